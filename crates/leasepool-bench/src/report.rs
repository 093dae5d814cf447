//! Results: the printed tables, `summary.tsv`, `throughput.svg` and
//! `latency.svg`.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::harness::{Better, Samples, Series, human, oriented};

/// leasepool against some peers, one TSV row per peer present.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    pub(crate) scenario: String,
    pub(crate) leasepool: String,
    pub(crate) peers: Vec<String>,
}

impl Comparison {
    pub(crate) fn new(scenario: &str, leasepool: &str, peers: &[String]) -> Self {
        Comparison { scenario: scenario.to_owned(), leasepool: leasepool.to_owned(), peers: peers.to_vec() }
    }
}

/// One scenario's samples and how to present them.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: &'static str,
    pub(crate) title: String,
    pub(crate) unit: &'static str,
    pub(crate) better: Better,
    pub(crate) samples: Samples,
    pub(crate) notes: Vec<String>,
    pub(crate) comparisons: Vec<Comparison>,
    /// Drawn in `throughput.svg`.
    pub(crate) chart: bool,
    /// How the figures were taken, when not "median of the interleaved runs".
    pub(crate) runs: Option<&'static str>,
}

impl Group {
    /// The leasepool series that `peer` is compared with in the table: that
    /// of the first comparison listing it. `None` for leasepool's own rows
    /// and for series no comparison lists.
    fn leasepool_of(&self, peer: &Series) -> Option<&Series> {
        if self.comparisons.iter().any(|c| c.leasepool == peer.name) {
            return None;
        }
        self.comparisons
            .iter()
            .filter(|c| c.peers.contains(&peer.name))
            .find_map(|c| self.samples.get(&c.leasepool))
    }
}

/// A performance goal a scenario sets for leasepool (an absolute bound or a
/// ratio to a peer), checked against a measured median.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) scenario: String,
    pub(crate) text: String,
    pub(crate) measured: f64,
    pub(crate) goal: f64,
    pub(crate) at_most: bool,
    pub(crate) unit: String,
    /// An absolute goal: also written to the TSV, with peer `target`.
    pub(crate) absolute: bool,
    /// For a missed ratio to a peer, where the scenario runs a second copy
    /// of the peer: how far the peer moved against itself in the same run.
    pub(crate) spread: Option<Spread>,
}

/// How far a peer's figure moved against a second copy of itself in the
/// same run, interleaved with the first: the noise of that run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spread {
    /// The larger of the two ratios, peer over copy and copy over peer.
    pub(crate) bound: f64,
    /// Whether leasepool's ratio to the peer stays within it: a miss this
    /// run cannot tell apart from noise.
    pub(crate) within: bool,
}

impl Target {
    /// An absolute goal: `measured` at most `goal`.
    pub(crate) fn at_most(scenario: &str, unit: &str, measured: f64, goal: f64) -> Self {
        Target {
            scenario: scenario.into(),
            text: format!("<= {} {unit}", human(goal)),
            measured,
            goal,
            at_most: true,
            unit: unit.into(),
            absolute: true,
            spread: None,
        }
    }

    /// An absolute goal: `measured` at least `goal`.
    pub(crate) fn at_least(scenario: &str, unit: &str, measured: f64, goal: f64) -> Self {
        Target {
            scenario: scenario.into(),
            text: format!(">= {} {unit}", human(goal)),
            measured,
            goal,
            at_most: false,
            unit: unit.into(),
            absolute: true,
            spread: None,
        }
    }

    /// `measured` is a ratio of leasepool to a peer.
    pub(crate) fn ratio_at_most(scenario: &str, text: &str, measured: f64, goal: f64) -> Self {
        Target {
            scenario: scenario.into(),
            text: text.into(),
            measured,
            goal,
            at_most: true,
            unit: "x".into(),
            absolute: false,
            spread: None,
        }
    }

    /// `measured` is a ratio of leasepool to a peer.
    pub(crate) fn ratio_at_least(scenario: &str, text: &str, measured: f64, goal: f64) -> Self {
        Target {
            scenario: scenario.into(),
            text: text.into(),
            measured,
            goal,
            at_most: false,
            unit: "x".into(),
            absolute: false,
            spread: None,
        }
    }

    pub(crate) fn met(&self) -> Option<bool> {
        if self.measured.is_nan() {
            return None;
        }
        Some(if self.at_most { self.measured <= self.goal } else { self.measured >= self.goal })
    }

    /// The measured figure over the goal, oriented so that >= 1 means met.
    fn ratio(&self) -> f64 {
        if self.at_most { oriented(self.goal, self.measured) } else { oriented(self.measured, self.goal) }
    }
}

/// One line of `summary.tsv`.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) leasepool: f64,
    pub(crate) peer: String,
    pub(crate) peer_value: f64,
    pub(crate) ratio: f64,
    pub(crate) unit: String,
}

/// One line of `latency.svg` and `latency.tsv`: an implementation's
/// percentiles (of every run's operations) in one setting of a latency
/// scenario.
#[derive(Debug, Clone)]
pub(crate) struct LatencyRow {
    /// The runtime (one block of the chart).
    pub(crate) section: String,
    /// What ran: "4 tasks", "held lease, 1 task".
    pub(crate) setting: String,
    pub(crate) name: String,
    pub(crate) leasepool: bool,
    /// A peer's second copy, run to show the noise: in `latency.tsv`, not
    /// drawn.
    pub(crate) copy: bool,
    /// p50, p99 and p99.9 in microseconds, over the operations of all runs.
    pub(crate) percentiles: [f64; 3],
}

/// Everything one run produced.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) groups: Vec<Group>,
    /// Drawn in `latency.svg`, in this order.
    pub(crate) latency: Vec<LatencyRow>,
    pub(crate) targets: Vec<Target>,
    pub(crate) extra_rows: Vec<Row>,
    pub(crate) notes: Vec<String>,
    /// Second title line of the chart: mode, repetitions, machine.
    pub(crate) subtitle: String,
}

/// A number for the TSV and the target table.
pub(crate) fn num(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

impl Report {
    /// The TSV rows: every comparison, then absolute targets, then extras.
    pub(crate) fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for g in &self.groups {
            for c in &g.comparisons {
                let Some(lp) = g.samples.get(&c.leasepool) else { continue };
                let lp = lp.figure();
                for peer in &c.peers {
                    let Some(p) = g.samples.get(peer) else { continue };
                    let p = p.figure();
                    rows.push(Row {
                        scenario: c.scenario.clone(),
                        leasepool: lp,
                        peer: peer.clone(),
                        peer_value: p,
                        ratio: g.better.advantage(lp, p),
                        unit: g.unit.into(),
                    });
                }
            }
        }
        let mut target_rows = Vec::new();
        for t in self.targets.iter().filter(|t| t.absolute && !t.measured.is_nan()) {
            target_rows.push(Row {
                scenario: t.scenario.clone(),
                leasepool: t.measured,
                peer: "target".into(),
                peer_value: t.goal,
                ratio: t.ratio(),
                unit: t.unit.clone(),
            });
        }
        // A leasepool figure with neither peer nor target still gets a row.
        for g in &self.groups {
            for c in g.comparisons.iter().filter(|c| c.peers.is_empty()) {
                let Some(lp) = g.samples.get(&c.leasepool) else { continue };
                if target_rows.iter().any(|r| r.scenario == c.scenario) {
                    continue;
                }
                rows.push(Row {
                    scenario: c.scenario.clone(),
                    leasepool: lp.figure(),
                    peer: "-".into(),
                    peer_value: f64::NAN,
                    ratio: f64::NAN,
                    unit: g.unit.into(),
                });
            }
        }
        rows.extend(target_rows);
        rows.extend(self.extra_rows.iter().cloned());
        rows
    }

    pub(crate) fn write_tsv(&self, path: &Path) -> io::Result<()> {
        let mut s = String::from("scenario\tleasepool\tpeer\tpeer_value\tratio\tunit\n");
        for r in self.rows() {
            let _ = writeln!(
                s,
                "{}\t{}\t{}\t{}\t{}\t{}",
                r.scenario,
                num(r.leasepool),
                r.peer,
                if r.peer == "-" { String::new() } else { num(r.peer_value) },
                if r.peer == "-" { String::new() } else { num(r.ratio) },
                r.unit
            );
        }
        std::fs::write(path, s)
    }

    /// The tables of every scenario, then the targets.
    pub(crate) fn print(&self, reps: usize) {
        for g in &self.groups {
            let dir = match g.better {
                Better::Higher => "higher is better",
                Better::Lower => "lower is better",
            };
            println!("\n== {}: {}", g.id, g.title);
            let runs = g.runs.map_or_else(|| format!("median of {reps} interleaved runs"), str::to_owned);
            println!("   [{}, {dir}; {runs}]", g.unit);
            let width = g.samples.series.iter().map(|s| s.name.len()).max().unwrap_or(10).max(14);
            let figure =
                if g.samples.series.iter().any(|s| s.pooled.is_some()) { "all runs" } else { "median" };
            println!(
                "   {:<width$}  {:>10}  {:>10}  {:>10}  {:>14}",
                "implementation", figure, "min", "max", "leasepool adv."
            );
            for s in &g.samples.series {
                let adv = match g.leasepool_of(s) {
                    Some(lp) => {
                        let r = g.better.advantage(lp.figure(), s.figure());
                        if r.is_finite() { format!("{r:.2}x") } else { format!("{r}") }
                    }
                    None => String::new(),
                };
                println!(
                    "   {:<width$}  {:>10}  {:>10}  {:>10}  {:>14}",
                    s.name,
                    human(s.figure()),
                    human(s.min()),
                    human(s.max()),
                    adv
                );
            }
            for (name, reason) in &g.samples.skipped {
                println!("   {name:<width$}  skipped: {reason}");
            }
            for n in &g.notes {
                println!("   note: {n}");
            }
            // Peers listed by several comparisons: which leasepool row the column used.
            let mut against: Vec<(&str, Vec<&str>)> = Vec::new();
            for s in &g.samples.series {
                if g.comparisons.iter().filter(|c| c.peers.contains(&s.name)).count() < 2 {
                    continue;
                }
                if let Some(lp) = g.leasepool_of(s) {
                    match against.iter_mut().find(|(name, _)| *name == lp.name) {
                        Some((_, peers)) => peers.push(&s.name),
                        None => against.push((&lp.name, vec![&s.name])),
                    }
                }
            }
            for (lp, peers) in against {
                println!(
                    "   note: \"leasepool adv.\" of {} is against {lp} (summary.tsv has every pair)",
                    peers.join(", ")
                );
            }
        }
        println!("\n== targets (\"leasepool adv.\" above: > 1 means leasepool is better than that peer)");
        let w = self.targets.iter().map(|t| t.scenario.len()).max().unwrap_or(10);
        let tw = self.targets.iter().map(|t| t.text.len()).max().unwrap_or(10);
        println!("   {:<w$}  {:<tw$}  {:>14}  met", "scenario", "target", "measured");
        for t in &self.targets {
            let met = match (t.met(), t.spread) {
                (Some(true), _) => "yes".to_owned(),
                (Some(false), Some(Spread { bound, within })) => format!(
                    "MISSED, {} the peer's spread against itself ({bound:.2}x)",
                    if within { "within" } else { "beyond" }
                ),
                (Some(false), None) => "MISSED".to_owned(),
                (None, _) => "n/a (not measured)".to_owned(),
            };
            let measured = format!("{} {}", num(t.measured), t.unit);
            println!("   {:<w$}  {:<tw$}  {measured:>14}  {met}", t.scenario, t.text);
        }
        let met = self.targets.iter().filter(|t| t.met() == Some(true)).count();
        let missed = self.targets.iter().filter(|t| t.met() == Some(false)).count();
        println!("   {met} met, {missed} missed, {} not measured", self.targets.len() - met - missed);
        for n in &self.notes {
            println!("   note: {n}");
        }
    }

    /// Every latency row, copies included, in microseconds.
    pub(crate) fn write_latency_tsv(&self, path: &Path) -> io::Result<()> {
        let mut s = String::from("runtime\tsetting\timplementation\tp50\tp99\tp99.9\n");
        for r in &self.latency {
            let [p50, p99, p999] = r.percentiles;
            let _ = writeln!(
                s,
                "{}\t{}\t{}\t{}\t{}\t{}",
                r.section,
                r.setting,
                r.name,
                num(p50),
                num(p99),
                num(p999)
            );
        }
        std::fs::write(path, s)
    }

    /// Horizontal bars per scenario per implementation: a log scale for
    /// jobs/s groups, linear 0-100 for utilisation.
    pub(crate) fn write_svg(&self, path: &Path) -> io::Result<()> {
        const W: f64 = 1100.0;
        const LABEL: f64 = 400.0;
        const BAR_MAX: f64 = 560.0;
        const ROW: f64 = 20.0;
        let groups: Vec<&Group> =
            self.groups.iter().filter(|g| g.chart && !g.samples.series.is_empty()).collect();
        let height: f64 =
            70.0 + groups.iter().map(|g| 50.0 + ROW * g.samples.series.len() as f64).sum::<f64>();
        let mut s = svg_open(
            W,
            height,
            "leasepool throughput vs peers (medians; blue = leasepool, orange = Python original, grey = peers)",
            &self.subtitle,
        );
        let mut y = 60.0;
        for g in groups {
            let linear = g.unit.starts_with('%');
            let figures: Vec<f64> = g.samples.series.iter().map(|x| x.figure()).collect();
            let finite = figures.iter().copied().filter(|v| v.is_finite() && *v > 0.0);
            let (lo, hi) = finite.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (d0, d1) = if linear {
                (0.0, hi.max(100.0))
            } else {
                (lo.log10().floor().min(hi.log10().floor() - 1.0), hi.log10().ceil().max(lo.log10().ceil()))
            };
            let scale = |v: f64| -> f64 {
                if !(v.is_finite() && v > 0.0) {
                    return 0.0;
                }
                let f = if linear { v / d1 } else { (v.log10() - d0) / (d1 - d0) };
                (f.clamp(0.0, 1.0) * BAR_MAX).max(1.0)
            };
            let axis = if linear { "linear" } else { "log scale" };
            let _ = writeln!(
                s,
                r#"<text x="10" y="{}" font-size="13" font-weight="bold">{}: {} [{}, {axis}]</text>"#,
                y + 14.0,
                g.id,
                esc(&g.title),
                esc(g.unit)
            );
            let top = y + 24.0;
            let bottom = top + ROW * g.samples.series.len() as f64;
            // Grid: decades (log) or quarters (linear).
            let ticks: Vec<f64> = if linear {
                (0..=4).map(|i| d1 * f64::from(i) / 4.0).collect()
            } else {
                (d0 as i32..=d1 as i32).map(|e| 10f64.powi(e)).collect()
            };
            for t in ticks {
                let x = LABEL + if linear { BAR_MAX * t / d1 } else { scale(t) };
                grid_line(&mut s, x, top, bottom, t);
            }
            for (i, series) in g.samples.series.iter().enumerate() {
                let ry = top + ROW * i as f64;
                let is_lp = series.name.starts_with("leasepool")
                    || g.comparisons.iter().any(|c| c.leasepool == series.name);
                let color = if is_lp {
                    "#2b6cb0"
                } else if series.name.starts_with("python") {
                    "#dd6b20"
                } else {
                    "#a0aec0"
                };
                let len = scale(figures[i]);
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LABEL - 6.0,
                    ry + 14.0,
                    esc(&series.name)
                );
                let _ = writeln!(
                    s,
                    r#"<rect x="{LABEL}" y="{:.1}" width="{len:.1}" height="{:.1}" fill="{color}"/>"#,
                    ry + 3.0,
                    ROW - 6.0
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}">{} {}</text>"#,
                    LABEL + len + 6.0,
                    ry + 14.0,
                    human(figures[i]),
                    esc(g.unit)
                );
            }
            y = bottom + 26.0;
        }
        s.push_str("</svg>\n");
        std::fs::write(path, s)
    }

    /// One line per implementation and setting, grouped by runtime: a bar
    /// from p50 to p99.9 on a log scale shared by every block, a dot at
    /// p50, a ring at p99, a tick at p99.9, and the three figures.
    pub(crate) fn write_latency_svg(&self, path: &Path) -> io::Result<()> {
        const W: f64 = 1100.0;
        const SETTING: f64 = 16.0;
        const LABEL: f64 = 420.0;
        const PLOT: f64 = 430.0;
        const ROW: f64 = 18.0;
        const PAIR_GAP: f64 = 6.0;
        let rows: Vec<&LatencyRow> = self.latency.iter().filter(|r| !r.copy).collect();
        let mut sections: Vec<&str> = Vec::new();
        for r in &rows {
            if !sections.contains(&r.section.as_str()) {
                sections.push(&r.section);
            }
        }
        let values = rows.iter().flat_map(|r| r.percentiles).filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (d0, d1) = if hi > 0.0 {
            (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0))
        } else {
            (0.0, 1.0)
        };
        let x = |v: f64| -> f64 {
            let f = if v.is_finite() && v > 0.0 { (v.log10() - d0) / (d1 - d0) } else { 0.0 };
            LABEL + f.clamp(0.0, 1.0) * PLOT
        };
        let block = |section: &str| {
            let in_it: Vec<&LatencyRow> = rows.iter().copied().filter(|r| r.section == section).collect();
            let mut settings: Vec<&str> = in_it.iter().map(|r| r.setting.as_str()).collect();
            settings.dedup();
            (in_it, settings.len())
        };
        let height = 78.0
            + sections
                .iter()
                .map(|sec| {
                    let (in_it, settings) = block(sec);
                    44.0 + ROW * in_it.len() as f64 + PAIR_GAP * settings as f64
                })
                .sum::<f64>();
        let mut s = svg_open(
            W,
            height,
            "leasepool latency vs peers, lower is better (percentiles of every run's operations; blue = leasepool, grey = peers)",
            &self.subtitle,
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="60" fill="#444">each task sleeps 1 ms between operations; dot = p50, ring = p99, tick = p99.9 (us, log scale)</text>"##
        );
        let mut y = 74.0;
        for sec in sections {
            let (in_it, settings) = block(sec);
            let _ = writeln!(
                s,
                r#"<text x="10" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
                y + 14.0,
                esc(sec)
            );
            let top = y + 22.0;
            let bottom = top + ROW * in_it.len() as f64 + PAIR_GAP * settings as f64 + 4.0;
            // Decades, drawn first so the markers stay on top.
            for e in d0 as i32..=d1 as i32 {
                let t = 10f64.powi(e);
                grid_line(&mut s, x(t), top, bottom, t);
            }
            let mut ry = top;
            let mut last_setting = "";
            for r in &in_it {
                if r.setting != last_setting {
                    ry += PAIR_GAP;
                    let _ = writeln!(
                        s,
                        r#"<text x="{SETTING}" y="{:.1}" font-weight="bold">{}</text>"#,
                        ry + 13.0,
                        esc(&r.setting)
                    );
                    last_setting = &r.setting;
                }
                let color = if r.leasepool { "#2b6cb0" } else { "#718096" };
                let [p50, p99, p999] = r.percentiles;
                let cy = ry + ROW / 2.0;
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LABEL - 8.0,
                    ry + 13.0,
                    esc(&r.name)
                );
                let _ = writeln!(
                    s,
                    r#"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{color}" stroke-width="3" stroke-opacity="0.45"/>"#,
                    x(p50),
                    x(p999)
                );
                let _ = writeln!(s, r#"<circle cx="{:.1}" cy="{cy:.1}" r="4.5" fill="{color}"/>"#, x(p50));
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{cy:.1}" r="4.5" fill="white" stroke="{color}" stroke-width="2"/>"#,
                    x(p99)
                );
                let _ = writeln!(
                    s,
                    r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"/>"#,
                    cy - 6.0,
                    cy + 6.0,
                    x = x(p999)
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" fill="{color}">{} / {} / {} us</text>"#,
                    LABEL + PLOT + 14.0,
                    ry + 13.0,
                    human(p50),
                    human(p99),
                    human(p999)
                );
                ry += ROW;
            }
            y = bottom + 22.0;
        }
        s.push_str("</svg>\n");
        std::fs::write(path, s)
    }
}

/// The opening of a chart `width` x `height`: the `<svg>` element, a white
/// background, the title and, under it, the subtitle.
fn svg_open(width: f64, height: f64, title: &str, subtitle: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="10" y="24" font-size="16" font-weight="bold">{}</text>"#, esc(title));
    let _ = writeln!(s, r##"<text x="10" y="42" fill="#444">{}</text>"##, esc(subtitle));
    s
}

/// A vertical grid line at `x` from `top` to `bottom`, labelled `value`
/// under it.
fn grid_line(s: &mut String, x: f64, top: f64, bottom: f64, value: f64) {
    let _ = writeln!(
        s,
        r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" font-size="10" fill="#666" text-anchor="middle">{}</text>"##,
        bottom + 12.0,
        tick(value)
    );
}

/// Axis labels: 0, 25, 1k, 10k, 1M.
fn tick(v: f64) -> String {
    if v >= 1e9 {
        format!("{}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
