//! The PromQL of `docs/scaling-out.md`, which `cargo xtask e2e` runs
//! against a real Prometheus so that the page cannot rot: every ```promql
//! fenced block (one expression each), and in ```yaml blocks the values of
//! `query` (KEDA), `seriesQuery` and `metricsQuery` (prometheus-adapter),
//! the adapter's templates filled in as the adapter would for one pod.

/// The labels the e2e's Prometheus gives every sample of the service (its
/// scrape config sets them), as a Kubernetes scrape would.
pub(crate) const NAMESPACE: &str = "leasepool-e2e";
pub(crate) const POD: &str = "axum-service-0";

/// One expression of the page and where it is.
#[derive(Debug, PartialEq)]
pub(crate) struct Query {
    /// `docs/scaling-out.md:LINE (kind)`.
    pub(crate) place: String,
    pub(crate) promql: String,
}

/// Every expression of the page, in order.
pub(crate) fn queries(file: &str, text: &str) -> Vec<Query> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        let Some(info) = fence.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let end =
            (start..lines.len()).find(|&j| lines[j].trim_start().starts_with("```")).unwrap_or(lines.len());
        let block = &lines[start..end];
        match info.trim() {
            "promql" => {
                let promql = block.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                found.push(Query { place: format!("{file}:{} (promql block)", start + 1), promql });
            }
            "yaml" => yaml_queries(file, start, block, &mut found),
            _ => {}
        }
        i = end + 1;
    }
    found
}

/// The query keys of a YAML block: a plain or quoted value on the key's
/// line, or a block scalar (`|`, `>`) on the lines indented below it.
fn yaml_queries(file: &str, start: usize, block: &[&str], found: &mut Vec<Query>) {
    let mut series = None;
    for (k, line) in block.iter().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let Some((key, value)) = trimmed.split_once(':') else { continue };
        if !["query", "seriesQuery", "metricsQuery"].contains(&key) {
            continue;
        }
        let value = value.trim();
        let promql = if value.starts_with('|') || value.starts_with('>') {
            let indent = indentation(line);
            block[k + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indentation(l) > indent)
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            unquote(value)
        };
        if key == "seriesQuery" {
            series = Some(promql.split('{').next().unwrap_or_default().trim().to_owned());
        }
        let promql = fill_template(&promql, series.as_deref());
        found.push(Query { place: format!("{file}:{} ({key})", start + k + 1), promql });
    }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// A YAML scalar without its quotes (`''` is a quote inside single quotes).
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        inner.replace("\\\"", "\"")
    } else {
        value.to_owned()
    }
}

/// prometheus-adapter's `metricsQuery` template, as the adapter fills it
/// for the one pod the e2e runs: the series of the rule, that pod's
/// matchers, grouped by pod.
fn fill_template(promql: &str, series: Option<&str>) -> String {
    let matchers = format!(r#"namespace="{NAMESPACE}",pod="{POD}""#);
    promql
        .replace("<<.Series>>", series.unwrap_or("<<.Series>>"))
        .replace("<<.LabelMatchers>>", &matchers)
        .replace("<<.GroupBy>>", "pod")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_promql_blocks_and_yaml_queries() {
        let page = "\
text
```promql
sum(
  leasepool_waiting)
```
```yaml
triggers:
  - type: prometheus
    metadata:
      query: sum(leasepool_waiting{manager=\"work\"})
rules:
  - seriesQuery: 'leasepool_waiting{namespace!=\"\",pod!=\"\"}'
    metricsQuery: |
      sum by (<<.GroupBy>>) (
        <<.Series>>{<<.LabelMatchers>>})
    name:
      as: 'x'
```
```sh
query: not this
```
";
        let found = queries("p.md", page);
        let promql: Vec<&str> = found.iter().map(|q| q.promql.as_str()).collect();
        assert_eq!(
            promql,
            [
                "sum( leasepool_waiting)",
                r#"sum(leasepool_waiting{manager="work"})"#,
                r#"leasepool_waiting{namespace!="",pod!=""}"#,
                r#"sum by (pod) ( leasepool_waiting{namespace="leasepool-e2e",pod="axum-service-0"})"#,
            ]
        );
        assert_eq!(found[0].place, "p.md:3 (promql block)");
        assert_eq!(found[3].place, "p.md:13 (metricsQuery)");
    }
}
