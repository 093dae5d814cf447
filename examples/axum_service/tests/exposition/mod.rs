//! A strict parser of Prometheus's text exposition format (version
//! 0.0.4), enough to check what `/metrics` writes: every line is a
//! comment, a `# HELP`, a `# TYPE` or a sample, and anything else fails.

use std::collections::{BTreeMap, HashMap};

/// A text exposition, parsed strictly: `# TYPE` before the samples of its
/// family, once, and none without; names, labels and values as the format defines them;
/// histogram buckets cumulative, ending at `+Inf` with the `_count`.
pub(crate) struct Exposition {
    /// Family name to its type.
    pub(crate) kinds: HashMap<String, String>,
    /// Every sample, in order.
    pub(crate) samples: Vec<Sample>,
}

/// One sample line.
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

impl Exposition {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut kinds: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let at = |msg: &str| format!("line {}: {msg}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.trim_start().splitn(3, ' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        check_name(name).map_err(|e| at(&e))?;
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                            return Err(at("unknown type"));
                        }
                        if kinds.insert(name.to_owned(), kind.to_owned()).is_some() {
                            return Err(at("a second TYPE line for the family"));
                        }
                        if samples.iter().any(|s: &Sample| family(&s.name, &kinds) == name) {
                            return Err(at("TYPE after the family's samples"));
                        }
                    }
                    (Some("HELP"), Some(name), _) => check_name(name).map_err(|e| at(&e))?,
                    (Some("TYPE" | "HELP"), ..) => return Err(at("incomplete TYPE or HELP")),
                    _ => {} // a plain comment
                }
                continue;
            }
            samples.push(parse_sample(line).map_err(|e| at(&e))?);
        }
        if let Some(sample) = samples.iter().find(|s| !kinds.contains_key(family(&s.name, &kinds))) {
            return Err(format!("{}: a sample with no TYPE", sample.name));
        }
        let exposition = Exposition { kinds, samples };
        exposition.check_histograms()?;
        Ok(exposition)
    }

    pub(crate) fn kind(&self, family: &str) -> Option<&str> {
        self.kinds.get(family).map(String::as_str)
    }

    /// The samples named `name` whose `manager` label is `manager`.
    pub(crate) fn samples(&self, name: &str, manager: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && s.labels.get("manager").is_some_and(|m| m == manager))
            .collect()
    }

    /// Each histogram series: `le` on every bucket, bounds rising and
    /// counts not falling, a last `+Inf` bucket equal to `_count`.
    fn check_histograms(&self) -> Result<(), String> {
        // (histogram, labels but `le`) to its buckets, in order: (le, count).
        let mut buckets: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in &self.samples {
            let Some(base) = sample.name.strip_suffix("_bucket") else { continue };
            if self.kind(base) != Some("histogram") {
                continue;
            }
            let mut labels = sample.labels.clone();
            let le = labels.remove("le").ok_or_else(|| format!("{}: a bucket with no le", sample.name))?;
            let series = Series { name: base.to_owned(), labels };
            buckets.entry(series).or_default().push((parse_value(&le)?, sample.value));
        }
        for (series, buckets) in buckets {
            let Series { name, labels } = &series;
            let mut last = (f64::NEG_INFINITY, 0.0);
            for &(le, count) in &buckets {
                if le <= last.0 || count < last.1 {
                    return Err(format!("{name}{labels:?}: buckets out of order or falling"));
                }
                last = (le, count);
            }
            if last.0 != f64::INFINITY {
                return Err(format!("{name}{labels:?}: no +Inf bucket"));
            }
            let count_name = format!("{name}_count");
            let count = self
                .samples
                .iter()
                .find(|s| s.name == count_name && s.labels == *labels)
                .ok_or_else(|| format!("{name}{labels:?}: no _count"))?;
            if count.value != last.1 {
                return Err(format!("{name}{labels:?}: +Inf bucket {} but _count {}", last.1, count.value));
            }
        }
        Ok(())
    }
}

/// A series: a name and its labels.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

/// The family a sample belongs to (`x_bucket` of histogram `x` is `x`).
fn family<'a>(name: &'a str, kinds: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if kinds.get(base).is_some_and(|k| k == "histogram" || k == "summary") {
                return base;
            }
        }
    }
    name
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("bad value {text:?}")),
    }
}

/// `name{label="value",...} value [timestamp]`
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let close = loop {
            let Some(&(start, c)) = chars.peek() else { return Err("unclosed labels".into()) };
            if c == '}' {
                break start;
            }
            // label name
            let mut label = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c == '=' {
                    break;
                }
                label.push(c);
                chars.next();
            }
            let ok = label.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!("bad label name {label:?}"));
            }
            chars.next(); // '='
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label}: value not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("label {label}: bad escape {other:?}")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("label {label}: unterminated value")),
                }
            }
            if labels.insert(label.clone(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            match chars.peek().map(|&(_, c)| c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => return Err("labels not separated by ','".into()),
            }
        };
        rest = &inner[close + 1..];
    }
    let mut fields = rest.strip_prefix(' ').ok_or("no space before the value")?.split(' ');
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| format!("bad timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample { name: name.to_owned(), labels, value })
}
