"""Search spaces, registry and config validation of the Optuna integration (no training)."""

import pytest

optuna = pytest.importorskip("optuna")

from lightning_dln.integrations.optuna import MODELS, Param, SearchSpace, TuneConfig  # noqa: E402
from lightning_dln.integrations.optuna.lightning_objective import split_params  # noqa: E402
from lightning_dln.integrations.optuna.registry import dln_space, model_spec  # noqa: E402


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "int", "low": 10, "high": 1}, "inverted range"),
    ({"kind": "float", "low": 1.0, "high": 0.5, "log": True}, "inverted range"),
    ({"kind": "float", "low": 0.0, "high": 1.0, "log": True}, "log range needs low > 0"),
    ({"kind": "categorical", "choices": []}, "at least one choice"),
    ({"kind": "int", "low": None, "high": 3}, "finite number low"),
    ({"kind": "int", "low": 1.5, "high": 3}, "integer ends"),
    ({"kind": "bool"}, "kind must be one of"),
    ({"kind": "categorical", "choices": [[1, 2]]}, "choices must be"),
    ({"kind": "int", "low": 1, "high": 3, "when": ("factor",)}, "when must be None or"),
    ({"kind": "int", "low": 1, "high": 3, "when": ("factor", ())}, "non-empty tuple"),
])
def test_param_rejects_bad_ranges(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Param(**kwargs)


def test_dln_space_samples_valid_configs_with_conditions():
    space = dln_space()
    assert space.params["depth"] == Param("int", 1, 1024, log=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_rank = set()
    for _ in range(40):
        trial = study.ask()
        values = space.sample(trial)
        net, module, data = split_params(values)
        assert 1 <= net["depth"] <= 1024 and data["batch_size"] in (16, 32, 64, 128)
        assert ("rank" in net) == (net["factor"] == "lowrank")
        seen_rank.add("rank" in net)
        assert (module.get("optimizer") == "flow") == (net["parametrization"] == "flow")
        assert all(isinstance(s, int) for s in net["scales"])
        study.tell(trial, 0.0)
    assert seen_rank == {True, False}


def test_overrides_edit_fix_drop_and_add():
    space = dln_space().override({
        "depth": {"high": 64},
        "factor": {"choices": ["dense", "lowrank"]},
        "residual": False,
        "init_scale": None,
        "dropout": {"kind": "float", "low": 0.0, "high": 0.5},
        "rank": {"when": {"factor": "lowrank"}},
    })
    assert space.params["depth"].high == 64 and space.params["depth"].log
    assert space.params["factor"].choices == ("dense", "lowrank")
    assert space.fixed["residual"] is False and "residual" not in space.params
    assert "init_scale" not in space.params and "init_scale" not in space.fixed
    assert space.params["dropout"].kind == "float"
    assert space.params["rank"].when == ("factor", ("lowrank",))


@pytest.mark.parametrize("override, match", [
    ({"depth": {"low": 100, "high": 10}}, "space.depth: inverted range"),
    ({"depth": {"high": 0}}, "space.depth: inverted range"),
    ({"factor": {"choices": []}}, "space.factor: a categorical parameter needs"),
    ({"nonsense": {"high": 3}}, "space.nonsense: not a parameter"),
    ({"depth": {"hgih": 3}}, "unknown fields"),
])
def test_bad_overrides_fail_with_the_parameter_name(override, match):
    with pytest.raises(ValueError, match=match):
        dln_space().override(override)


def test_condition_must_name_an_earlier_parameter():
    with pytest.raises(ValueError, match="depends on 'b'"):
        SearchSpace({"a": Param("int", 1, 2, when=("b", (1,))), "b": Param("int", 1, 2)})


def test_registry_has_all_baselines_and_rejects_unknown_models():
    for name in ("dln", "linear", "nlinear", "dlinear", "tide", "tsmixer", "nbeats", "nhits",
                 "lstm", "transformer", "deeplinear"):
        assert name in MODELS
    assert MODELS["lstm"].windows(336, 96) == {"input_chunk_length": 336,
                                               "training_length": 432}
    assert model_spec("darts:TCNModel").target == "darts.models:TCNModel"
    with pytest.raises(ValueError, match="unknown model 'nope'; choose one of"):
        model_spec("nope")


def test_config_errors():
    base = {"model": "toy"}
    TuneConfig.from_dict(base)
    with pytest.raises(ValueError, match="unknown model"):
        TuneConfig.from_dict({"model": "resnet"})
    with pytest.raises(ValueError, match="unknown keys \\['modle'\\]"):
        TuneConfig.from_dict({"modle": "toy", "model": "toy"})
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        TuneConfig.from_dict(base, n_trials=0)
    with pytest.raises(ValueError, match="timeout must be"):
        TuneConfig.from_dict(base, timeout=-1)
    with pytest.raises(ValueError, match="space.x: inverted range"):
        TuneConfig.from_dict({**base, "space": {"x": {"low": 3, "high": -3}}})
    with pytest.raises(ValueError, match="pruner.name"):
        TuneConfig.from_dict({**base, "study": {"pruner": {"name": "sometimes"}}})
    with pytest.raises(ValueError, match="sampler.name"):
        TuneConfig.from_dict({**base, "study": {"sampler": {"n_startup_trials": 3,
                                                            "name": "grid"}}})
    direct = TuneConfig.from_dict(base)
    for field, value, match in [("n_trials", 0, "n_trials"), ("study_name", "", "study_name"),
                                ("heartbeat_interval", 0, "heartbeat_interval"),
                                ("max_retry", -1, "max_retry"), ("pruner", "median", "mapping")]:
        with pytest.raises(ValueError, match=match):  # the constructor validates as from_dict
            TuneConfig(**{**vars(direct), field: value})
    assert TuneConfig(**{**vars(direct), "data": {}}).data["lookback"] == 336
    quick = {"study": {"n_trials": 2}, "trainer": {"max_epochs": 1}}
    quick = TuneConfig.from_dict({**base, "trainer": {"max_epochs": 5}, "quick": quick},
                                 quick=True)
    assert quick.n_trials == 2 and quick.trainer == {"max_epochs": 1}


def test_missing_optuna_gives_the_install_hint(monkeypatch):
    import sys

    from lightning_dln.integrations.optuna._deps import require

    monkeypatch.setitem(sys.modules, "optuna_integration", None)
    with pytest.raises(ImportError, match=r'pip install "lightning-dln\[optuna\]"'):
        require("optuna_integration")


def test_public_names_resolve():
    import lightning_dln.integrations.optuna as tune

    for name in tune.__all__:
        assert getattr(tune, name) is not None


def test_export_and_plots_need_a_study_and_a_config(tmp_path):
    from lightning_dln.integrations.optuna import export_best, write_plots

    cfg = TuneConfig.from_dict({"model": "toy", "output_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="study must be an optuna.Study, got str"):
        export_best("etth1_dln", cfg)
    with pytest.raises(ValueError, match="study must be an optuna.Study"):
        write_plots("etth1_dln", tmp_path)
    study = optuna.create_study()
    with pytest.raises(ValueError, match="cfg must be a TuneConfig, got NoneType"):
        export_best(study, None)
    assert not list(tmp_path.iterdir())  # nothing written before the checks
