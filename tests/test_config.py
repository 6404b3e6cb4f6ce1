import pytest

from cifarsweep.config.training import TRAIN_FIELDS, TrainConfig, apply_overrides, load_train_config
from cifarsweep.errors import UserError

CONTRACT_FIELDS = (
    "dataset data_dir train_subset val_subset model width epochs batch_size optimizer lr momentum nesterov "
    "weight_decay grad_clip grad_clip_norm scheduler warmup_epochs label_smoothing mixup_alpha cutmix_alpha "
    "random_crop hflip color_jitter amp channels_last compile seed device"
).split()


def test_every_contract_field_exists():
    assert set(CONTRACT_FIELDS) <= set(TRAIN_FIELDS)


def test_defaults_reproduce_the_notebook():
    cfg = TrainConfig()
    assert (cfg.model, cfg.width, cfg.batch_size, cfg.epochs) == ("resnet34", 64, 400, 120)
    assert (cfg.optimizer, cfg.scheduler, cfg.lr, cfg.weight_decay, cfg.grad_clip) == (
        "adam",
        "onecycle",
        0.01,
        1e-4,
        0.1,
    )
    assert cfg.random_crop and cfg.crop_padding == 4 and cfg.hflip and cfg.color_jitter
    assert (cfg.jitter_brightness, cfg.jitter_contrast, cfg.jitter_saturation, cfg.jitter_hue) == (0.1, 0.1, 0.1, 0.02)
    assert cfg.mixup_alpha == cfg.cutmix_alpha == cfg.label_smoothing == 0


def test_file_plus_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: synthetic\nlr: 1e-3\nwidth: 16\n")
    cfg = load_train_config(path, ["width=8", "grad_clip=null", "optimizer=sgd"])
    assert cfg.lr == pytest.approx(1e-3) and cfg.width == 8 and cfg.grad_clip is None and cfg.optimizer == "sgd"


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["lrr=0.1"], "lrr"),
        (["lr=fast"], "lr"),
        (["optimizer=lion"], "optimizer"),
        (["width=0"], "width"),
        (["device=tpu"], "device"),
        (["epochs=2", "warmup_epochs=3"], "warmup_epochs"),
        (["nosuchkey"], "KEY=VALUE"),
    ],
)
def test_bad_values_name_the_key(overrides, fragment):
    with pytest.raises(UserError) as info:
        load_train_config(None, overrides)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_file_errors_point_at_the_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: synthetic\n\nbatch_size: many\n")
    with pytest.raises(UserError, match=r"c.yaml:3: batch_size"):
        load_train_config(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.yaml"):
        load_train_config(tmp_path / "nope.yaml")


def test_overrides_do_not_touch_the_input():
    data = {"base": {"lr": 1}}
    out = apply_overrides(data, ["base.lr=2", "base.width=8"])
    assert data == {"base": {"lr": 1}} and out == {"base": {"lr": 2, "width": 8}}


def test_params_hold_every_field():
    params = TrainConfig().as_params()
    assert set(params) == set(TRAIN_FIELDS) and params["grad_clip_norm"] == "None"
