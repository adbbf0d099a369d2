//! Prometheus text exposition (format 0.0.4), written by hand: the coordinator and the worker
//! have a few counters, gauges and histograms and need no metrics framework.
//!
//! [`Exposition`] builds the text; [`Histogram`] holds one latency distribution.

use std::fmt::Write;

/// Upper bounds (seconds) of the latency buckets: half a millisecond to a minute.
pub const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// A cumulative histogram over [`BUCKETS`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// The exposition text, one metric family at a time.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: `kind` is `counter`, `gauge` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample; `labels` is `key="value",…` or empty.
    pub fn sample(&mut self, name: &str, labels: &str, value: f64) -> &mut Self {
        let _ = writeln!(self.out, "{name}{} {value}", braces(labels));
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, "", value)
    }

    /// The samples of one histogram (its family must be started).
    pub fn histogram(&mut self, name: &str, labels: &str, h: &Histogram) -> &mut Self {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                self.out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            self.out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(self.out, "{name}_sum{} {}", braces(labels), h.sum);
        let _ = writeln!(self.out, "{name}_count{} {}", braces(labels), h.count);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Checks text against the exposition format: every line is a `# HELP`/`# TYPE` comment or
/// `name{labels} value` with a numeric value, and every sample's family was declared. Tests of
/// both services use it.
pub fn check_exposition(text: &str) -> Result<(), String> {
    let mut declared = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or(format!("bad TYPE line {line:?}"))?;
            if !["counter", "gauge", "histogram"].contains(&kind) {
                return Err(format!("unknown type in {line:?}"));
            }
            declared.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or(format!("bad sample {line:?}"))?;
        value
            .parse::<f64>()
            .map_err(|_| format!("non-numeric value in {line:?}"))?;
        let name = series.split('{').next().unwrap_or(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
            .unwrap_or(name);
        if !declared.contains(family) {
            return Err(format!("sample {name} has no # TYPE line"));
        }
        if series.contains('{') && !series.ends_with('}') {
            return Err(format!("unbalanced labels in {line:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_the_text_checks() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(2.0);
        let mut e = Exposition::new();
        e.family("x_seconds", "histogram", "x")
            .histogram("x_seconds", "a=\"b\"", &h);
        e.single("y_total", "counter", "y", 3.0);
        let text = e.finish();
        assert!(text.contains("x_seconds_bucket{a=\"b\",le=\"0.005\"} 1"));
        assert!(text.contains("x_seconds_bucket{a=\"b\",le=\"+Inf\"} 2"));
        assert!(text.contains("x_seconds_count{a=\"b\"} 2"));
        check_exposition(&text).unwrap();
        assert!(check_exposition("z 1").is_err());
        assert!(check_exposition("# TYPE z counter\nz one").is_err());
    }
}
