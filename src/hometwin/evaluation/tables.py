"""The evaluation result as tables: rich tables for the terminal, Markdown for docs/evaluation.md.

Honest counting: every method pooled (false alarms with their 95 % interval; delays of the reachable
injections first, with the delay beyond the residual, then of all injections), HomeTwin by home with
the worst home and the pool, and every method at the knob chosen on the other homes (leave one home
out). Plain counting (the earlier protocol) keeps the earlier single table.
"""

from __future__ import annotations

from typing import Any

from hometwin.evaluation.metrics import RECALL_AT

Section = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _fmt(v: Any) -> str:
    if v is None:
        return "> 12 h"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 1 else f"{v:.1f}"
    return str(v)


def _minutes(v: Any) -> str:
    return "> 12 h" if v is None else f"{v:.0f}"


def _share(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def _rate(s: dict[str, Any]) -> str:
    if s.get("false_alarms_per_day") is None:
        return "-"
    ci = s.get("false_alarms_per_day_ci")
    text = f"{s['false_alarms_per_day']:.2f}"
    return f"{text} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else text


def _delays(s: dict[str, Any]) -> list[str]:
    if not s.get("injections"):
        return ["-", "-", "-"]
    return [_minutes(s["median_delay_day_min"]), _minutes(s["median_delay_night_min"]), _share(s["recall_at_240"])]


def plain_section(result: dict[str, Any]) -> Section:
    """The earlier table: every method at its default setting, and the stuck variant."""
    header = ["method", "FA/day", "median", "day", "night", "mean", *(f"<={m}'" for m in RECALL_AT)]
    rows = [(m["label"], m) for m in result["methods"].values()]
    rows += [(result["methods"][name]["label"] + " (stuck)", s) for name, s in result["stuck"].items()
             if s["injections"]]
    return ("Emergency detection (" + result["resolution_note"] + ")", header, [
        [label, _fmt(s["false_alarms_per_day"]), _fmt(s["median_delay_min"]), _fmt(s["median_delay_day_min"]),
         _fmt(s["median_delay_night_min"]), _fmt(s["mean_delay_min"]),
         *(_share(s[f"recall_at_{m}"]) for m in RECALL_AT)] for label, s in rows])


def _honest_row(label: str, s: dict[str, Any]) -> list[str]:
    r = s["reachable"]
    beyond = ([_minutes(r["median_beyond_residual_day_min"]), _minutes(r["median_beyond_residual_night_min"])]
              if r.get("injections") else ["-", "-"])
    return [label, _rate(s), *_delays(r), *beyond, *_delays(s)]


HONEST_HEADER = ["method", "FA/day [95 % CI]", "reachable: day", "night", "<=240'", "beyond residual: day",
                 "night", "all: day", "night", "<=240'"]


def pool_section(result: dict[str, Any]) -> Section:
    rows = [_honest_row(m["label"], m) for m in result["methods"].values()]
    rows += [_honest_row(result["methods"][name]["label"] + " (stuck)", s) for name, s in result["stuck"].items()
             if s["injections"]]
    cfg = result["config"]
    title = (f"Every home pooled, default settings ({result['resolution_note']}; delays in minutes, median; "
             f"reachable: the real data had an event within {cfg['reachable_min']:.0f} min)")
    return title, HONEST_HEADER, rows


def home_section(result: dict[str, Any], method: str = "hometwin") -> Section:
    header = ["home", "models", "test days", "FA", "FA/day [95 % CI]", "reachable", "reachable: day", "night",
              "<=240'", "all: day", "night", "<=240'"]
    rows = []
    homes = {h["name"]: h for h in result["homes"]}
    for name, by in result["by_home"].items():
        s = by[method]
        rows.append([name, str(homes[name]["models"]), f"{s['test_days']:.1f}", str(s["false_alarms"]), _rate(s),
                     f"{homes[name]['reachable_injections']}/{homes[name]['injections']}",
                     *_delays(s["reachable"]), *_delays(s)])
    worst = result["worst_home"][method]

    def w(key: str, fmt: Any) -> str:
        return f"{fmt(worst[key]['value'])} ({worst[key]['home']})" if key in worst else "-"

    rows.append(["worst home", "", "", "", w("false_alarms_per_day", lambda v: f"{v:.2f}"), "",
                 w("reachable.median_delay_day_min", _minutes), w("reachable.median_delay_night_min", _minutes),
                 w("reachable.recall_at_240", _share), w("median_delay_day_min", _minutes),
                 w("median_delay_night_min", _minutes), w("recall_at_240", _share)])
    main = result["methods"][method]
    rows.append(["pool", "", f"{main['test_days']:.1f}", str(main["false_alarms"]), _rate(main),
                 f"{sum(h['reachable_injections'] for h in homes.values())}/"
                 f"{sum(h['injections'] for h in homes.values())}", *_delays(main["reachable"]), *_delays(main)])
    return f"{main['label']} by home (default setting)", header, rows


def loho_section(result: dict[str, Any]) -> Section | None:
    loho = result.get("loho")
    if not loho:
        return None
    header = ["method", "knob per home", "FA/day [95 % CI]", "reachable: day", "night", "<=240'",
              "worst home: FA/day", "reachable <=240'"]
    rows = []
    for name, res in loho["methods"].items():
        pooled, worst = res["pooled"], res["worst_home"]
        knobs = ", ".join(f"{s['theta']:.3g}" + ("" if s["target_met_on_others"] else "*")
                          for s in res["by_home"].values())
        fa = worst.get("false_alarms_per_day")
        rec = worst.get("reachable.recall_at_240")
        rows.append([result["methods"][name]["label"], knobs, _rate(pooled), *_delays(pooled["reachable"]),
                     f"{fa['value']:.2f} ({fa['home']})" if fa else "-",
                     f"{_share(rec['value'])} ({rec['home']})" if rec else "-"])
    return (f"Leave one home out: each home at the knob meeting {loho['target_rate']:g} false alarms a day on the "
            f"other homes (*: no knob met it there, the most conservative one is used)", header, rows)


def equal_rate_section(result: dict[str, Any]) -> Section:
    header = ["baseline", "selection", "baseline at HomeTwin's rate (FA/day; day; night)",
              "HomeTwin at the baseline's default rate (FA/day; day; night)", "baseline default",
              "HomeTwin better both ways"]
    honest = result["config"].get("counting") == "honest"

    def short(s: dict[str, Any]) -> str:
        d = s["reachable"] if honest and "reachable" in s else s
        return (f"{s['false_alarms_per_day']:.2f}; {_minutes(d['median_delay_day_min'])}; "
                f"{_minutes(d['median_delay_night_min'])}")

    def verdict(cmp: dict[str, Any]) -> str:
        if cmp["hometwin_beats_baseline"]:
            return "yes"
        return "faster, at more false alarms" if cmp.get("faster_both_ways") else "no"

    rows = [[result["methods"][name]["label"], cmp.get("selection", "pooled"), short(cmp["baseline_at_hometwin_rate"]),
             short(cmp["hometwin_at_baseline_rate"]), short(cmp["baseline_default"]), verdict(cmp)]
            for name, cmp in result["equal_rate"].items()]
    what = "reachable falls, " if honest else ""
    return f"At equal false-alarm rate ({what}median minutes)", header, rows


def model_section(result: dict[str, Any]) -> Section | None:
    rows = result.get("by_model") or []
    if len(rows) < 2:
        return None
    return ("HomeTwin's false alarms by model: the first learned from the first week, the next from two, ...",
            ["model", "homes", "days of data before it (mean)", "test days", "FA", "FA/day [95 % CI]"],
            [[str(r["model"]), str(r["homes"]), f"{r['history_days']:.1f}", f"{r['test_days']:.1f}",
              str(r["false_alarms"]), _rate(r)] for r in rows])


def sections(result: dict[str, Any]) -> list[Section]:
    if result["config"].get("counting") != "honest":
        return [plain_section(result), equal_rate_section(result)]
    out = [pool_section(result), home_section(result)]
    by_model = model_section(result)
    if by_model is not None:
        out.append(by_model)
    loho = loho_section(result)
    if loho is not None:
        out.append(loho)
    out.append(equal_rate_section(result))
    return out


def section_tables(parts: list[Section]) -> list[Any]:
    """Sections as rich tables (first column left, figures right); shared by the trends tables."""
    from rich.table import Table

    tables = []
    for title, header, rows in parts:
        t = Table(title=title)
        for i, c in enumerate(header):
            t.add_column(c, justify="left" if i == 0 else "right")
        for row in rows:
            t.add_row(*row)
        tables.append(t)
    return tables


def section_markdown(parts: list[Section]) -> list[str]:
    """Sections as Markdown tables under a bold title, one string each."""
    out = []
    for title, header, rows in parts:
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("\n".join(lines))
    return out


def rich_tables(result: dict[str, Any]) -> list[Any]:
    return section_tables(sections(result))


def false_alarm_section(result: dict[str, Any]) -> Section | None:
    """HomeTwin's false alarms one by one: too long for the terminal, there to be looked into."""
    rows = result.get("false_alarm_list") or []
    if not rows:
        return None
    return ("HomeTwin's false alarms, one by one (local time of the home)",
            ["home", "began", "detector:room", "counted", "alarmed (min)", "peak margin"],
            [[r["home"], r["start"].replace("T", " "), r["alarm"], str(r["counts"]), str(r.get("minutes", "-")),
              f"{r['peak_margin']:.2f}" if "peak_margin" in r else "-"] for r in rows])


def markdown(result: dict[str, Any]) -> str:
    parts = section_markdown(sections(result))
    by = result.get("false_alarms_by")
    if by:
        parts.append(f"false alarms by detector:room: {by}")
    faults = result.get("fault_notices") or {}
    if faults.get("faults"):
        parts.append(f"known sensor faults (dead or stuck) noticed by a technical finding: {faults['noticed']} of "
                     f"{faults['faults']} ({faults['notices']} notices, not counted as false alarms)")
    listed = false_alarm_section(result)
    if listed is not None:
        parts += section_markdown([listed])
    return "\n\n".join(parts) + "\n"
