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
