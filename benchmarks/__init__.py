"""Measuring tools that sit beside the engine: they may run other versions of it, browsers and servers."""
