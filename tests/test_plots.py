"""Run figures (ganscope.plots): metrics.png laid out in rows, log axes only across decades."""


def test_metric_curves_wrap_into_rows_and_log_only_across_decades(tmp_path):
    import json

    from ganscope import plots

    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "w1": 0.5 + 0.01 * s, "grad_sq_real": 10.0 ** -s, "d_loss": [1.0, 1.2],
             **{f"k{i}": float(s) for i in range(6)}} for s in range(1, 6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig = plots.metric_curves(path)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 9 and len(fig.axes) == 12  # 9 panels in 3 rows of 4
    scale = {ax.get_title(): ax.get_yscale() for ax in visible}
    assert scale["grad_sq_real"] == "log" and scale["w1"] == "linear" and scale["d_loss"] == "linear"
    assert plots.spans_decades([1e-3, 1.0]) and not plots.spans_decades([0.1, 5.0])
    assert not plots.spans_decades([-1.0, 1e3]) and not plots.spans_decades([float("nan")])


def test_losses_and_counts_stay_linear_even_across_decades():
    from ganscope import plots

    assert plots.y_scale("d_loss", [1e-4, 0.1, 1.0]) == "linear"  # a loss: linear, though positive over 4 decades
    assert plots.y_scale("penalty_loss", [[1e-5, 2e-5], [1.0, 3.0]]) == "linear"
    assert plots.y_scale("modes_covered", [1, 8, 200, 1000]) == "linear"  # a count
    assert plots.y_scale("grad_sq_real", [1e-4, 0.1, 1.0]) == "log"
    assert plots.y_scale("grad_sq_real", [0.2, 0.5, 1.0]) == "linear"  # one decade or less
    assert plots.y_scale("fid", [3.5, 120.25, 900.5]) == "log" and plots.y_scale("fid", [3.5, 12.25]) == "linear"
    assert plots.y_scale("d_gap", [-1.0, 1e3]) == "linear"  # sign change: never log
    assert plots.y_scale("x", [float("nan")]) == "linear"


def test_metric_panels_use_the_rule(tmp_path):
    import json

    from ganscope import plots

    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "d_loss": 10.0 ** -s, "modes_covered": 2 ** s, "speed_g": 10.0 ** -s} for s in range(1, 6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig = plots.metric_curves(path)
    scale = {ax.get_title(): ax.get_yscale() for ax in fig.axes if ax.get_visible()}
    assert scale == {"d_loss": "linear", "modes_covered": "linear", "speed_g": "log"}
    assert len(fig.axes) == 3  # fewer panels than COLUMNS: one row, no empty panels
