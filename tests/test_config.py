"""TrainConfig: the seed CNN's defaults, validation of every value, the card round trip and the augmentation names."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import TrainConfig, from_query, parameters, to_query


class TestDefaults:
    def test_defaults_are_the_seed_cnn(self):
        config = TrainConfig()

        assert config.architecture == "seed"
        assert (config.conv1_filters, config.conv2_filters) == (32, 64)
        assert (config.conv_blocks, config.conv_padding) == (2, "valid")
        assert (config.conv1_kernel, config.conv2_kernel) == (3, 3)
        assert (config.conv1_pooling, config.conv2_pooling) == ("max", "max")
        assert not config.conv1_batchnorm and not config.conv2_batchnorm
        assert config.dense_layers == 1
        assert config.dense1_units == 128
        assert config.dense1_dropout == 0.5

    def test_defaults_use_all_sixty_thousand_training_images(self):
        assert TrainConfig().train_size == 60_000

    def test_config_is_immutable(self):
        config = TrainConfig()

        with pytest.raises(dataclasses.FrozenInstanceError):
            config.epochs = 3  # type: ignore[misc]


class TestValidation:
    @pytest.mark.parametrize(
        "field, value",
        [
            ("epochs", 0),
            ("epochs", 61),
            ("batch_size", 4),
            ("batch_size", 2048),
            ("learning_rate", 0.0),
            ("learning_rate", 2.0),
            ("conv1_filters", 2),
            ("dense1_units", 4096),
            ("dense1_dropout", 0.95),
            ("dense2_dropout", -0.1),
            ("conv_blocks", 5),
            ("dense_layers", 4),
            ("train_size", 50),
            ("train_size", 60_001),
            ("validation_split", 0.6),
            ("seed", -1),
        ],
    )
    def test_out_of_range_value_raises_value_error_naming_the_field(self, field, value):
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: value})

    @pytest.mark.parametrize(
        "field, value",
        [
            ("optimizer", "adagrad"),
            ("lr_schedule", "step"),
            ("architecture", "resnet"),
            ("conv3_kernel", 4),
            ("conv2_pooling", "global"),
            ("conv_padding", "full"),
            ("distribution", "tpu"),
        ],
    )
    def test_unknown_choice_raises_value_error_listing_the_choices(self, field, value):
        spec = next(spec for spec in parameters() if spec.name == field)

        with pytest.raises(ValueError, match=field) as raised:
            TrainConfig(**{field: value})

        assert all(str(choice) in str(raised.value) for choice in spec.metadata["choices"])

    def test_range_limits_themselves_are_accepted(self):
        for spec in parameters():
            low, high = spec.metadata["low"], spec.metadata["high"]
            if low is None:
                continue
            kind = type(spec.default)
            assert getattr(TrainConfig(**{spec.name: kind(low)}), spec.name) == kind(low)
            assert getattr(TrainConfig(**{spec.name: kind(high)}), spec.name) == kind(high)

    def test_replace_validates_the_new_value(self):
        with pytest.raises(ValueError, match="dense1_dropout"):
            TrainConfig().replace(dense1_dropout=1.5)


class TestParameters:
    def test_every_field_has_help_text_for_the_cli_and_the_train_page(self):
        assert all(spec.metadata["help"].strip() for spec in parameters())

    def test_every_non_boolean_field_has_a_range_or_choices(self):
        for spec in parameters():
            if isinstance(spec.default, bool):
                continue
            meta = spec.metadata
            assert meta["choices"] is not None or meta["low"] is not None, spec.name

    def test_every_default_is_one_of_its_own_choices_or_inside_its_range(self):
        for spec in parameters():
            meta = spec.metadata
            if meta["choices"] is not None:
                assert spec.default in meta["choices"], spec.name
            if meta["low"] is not None:
                assert meta["low"] <= spec.default <= meta["high"], spec.name


class TestCardRoundTrip:
    def test_to_dict_then_from_dict_gives_an_equal_config(self):
        config = TrainConfig(epochs=3, optimizer="sgd", dense1_dropout=0.25, augment_rotate=False, seed=42)

        assert TrainConfig.from_dict(config.to_dict()) == config

    def test_from_dict_ignores_keys_it_does_not_know(self):
        values = {**TrainConfig(epochs=5).to_dict(), "mixed_precision": True, "removed_in_v2": 1}

        assert TrainConfig.from_dict(values) == TrainConfig(epochs=5)

    def test_from_dict_fills_missing_keys_with_defaults(self):
        assert TrainConfig.from_dict({"epochs": 7}) == TrainConfig(epochs=7)

    def test_a_card_saved_before_the_blocks_rebuilds_its_network(self):
        old_card = {"conv1_filters": 16, "conv2_filters": 32, "kernel_size": 5, "dense_units": 64, "dropout": 0.25}

        config = TrainConfig.from_dict(old_card)

        assert (config.conv1_kernel, config.conv2_kernel, config.dense1_units, config.dense1_dropout) == (5, 5, 64, 0.25)
        assert (config.conv_blocks, config.dense_layers) == (2, 1)

    def test_from_dict_still_validates_values(self):
        with pytest.raises(ValueError, match="epochs"):
            TrainConfig.from_dict({"epochs": 0})


class TestAugmentations:
    def test_names_the_switches_that_are_on(self):
        switches = [spec.name for spec in parameters() if spec.name.startswith("augment_")]
        on = switches[::2]
        config = TrainConfig(**{name: name in on for name in switches})

        assert config.augmentations == tuple(name.removeprefix("augment_") for name in on)

    def test_is_empty_when_every_switch_is_off(self):
        switches = [spec.name for spec in parameters() if spec.name.startswith("augment_")]

        assert TrainConfig(**dict.fromkeys(switches, False)).augmentations == ()


def non_default_value(spec: dataclasses.Field) -> object:
    """A valid value of a setting other than its default: another choice, the other switch, or a range end."""
    meta = spec.metadata
    if isinstance(spec.default, bool):
        return not spec.default
    if meta["choices"] is not None:
        return next(choice for choice in meta["choices"] if choice != spec.default)
    kind = type(spec.default)
    return kind(meta["high"]) if spec.default != kind(meta["high"]) else kind(meta["low"])


class TestLinks:
    @pytest.mark.parametrize("spec", parameters(), ids=lambda spec: spec.name)
    def test_every_setting_survives_the_round_trip_through_a_link(self, spec):
        config = TrainConfig(**{spec.name: non_default_value(spec)})

        query = to_query(config)
        rebuilt, problems = from_query(query)

        assert query == {spec.name: query[spec.name]}  # only what differs from the defaults is in the link
        assert rebuilt == config and problems == []

    def test_all_settings_changed_at_once_survive_the_round_trip(self):
        config = TrainConfig(**{spec.name: non_default_value(spec) for spec in parameters()})

        assert from_query(to_query(config)) == (config, [])

    def test_the_default_config_makes_an_empty_link(self):
        assert to_query(TrainConfig()) == {}

    @pytest.mark.parametrize(
        "key, text, reason",
        [
            ("epochs", "many", "whole number"),
            ("epochs", "0", "between 1 and 60"),
            ("learning_rate", "nan", "a number"),
            ("deslant", "maybe", "1 or 0"),
            ("conv_blocks", "9", "between 1 and 4"),
            ("conv1_pooling", "<script>", "one of max, avg, stride, none"),
            ("batch_size", "100", "steps of 8"),
        ],
    )
    def test_an_invalid_value_gets_a_sentence_and_the_default(self, key, text, reason):
        config, problems = from_query({key: text, "epochs" if key != "epochs" else "seed": "3"})

        assert getattr(config, key) == getattr(TrainConfig(), key)
        assert len(problems) == 1 and key in problems[0] and reason in problems[0]
        assert problems[0].endswith(".")

    def test_keys_that_are_not_settings_are_ignored(self):
        assert from_query({"page": "train", "utm_source": "mail", "epochs": "4"}) == (TrainConfig(epochs=4), [])
