//! GPU detection through `nvidia-smi`, for what the worker reports to the coordinator. Which
//! backend proves is `obelysk_gpu::prove::ProvingBackend`'s choice (`crate::prove`).

use std::process::Command;

use bitsage_protocol::GpuInfo;

/// What `nvidia-smi` reports, or why there is nothing to report.
#[derive(Clone, Debug, Default)]
pub struct Detection {
    pub gpus: Vec<GpuInfo>,
    pub compute_capability: Option<String>,
    /// Why no GPU was found (driver missing, no device, …).
    pub none_because: Option<String>,
}

/// Runs `nvidia-smi` (honouring `CUDA_VISIBLE_DEVICES` for the indices it reports).
pub fn detect() -> Detection {
    let output = Command::new("nvidia-smi")
        .args([
            "--query-gpu=index,name,memory.total,utilization.gpu,compute_cap",
            "--format=csv,noheader,nounits",
        ])
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return Detection {
                none_because: Some(format!(
                    "nvidia-smi failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                ..Default::default()
            }
        }
        Err(_) => {
            return Detection {
                none_because: Some("no NVIDIA driver (nvidia-smi not found)".into()),
                ..Default::default()
            }
        }
    };
    let visible: Option<Vec<u32>> = std::env::var("CUDA_VISIBLE_DEVICES")
        .ok()
        .map(|v| v.split(',').filter_map(|i| i.trim().parse().ok()).collect());
    parse(&String::from_utf8_lossy(&output.stdout), visible.as_deref())
}

fn parse(text: &str, visible: Option<&[u32]>) -> Detection {
    let mut detection = Detection::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 5 {
            continue;
        }
        let index: u32 = fields[0].parse().unwrap_or(0);
        if visible.is_some_and(|v| !v.contains(&index)) {
            continue;
        }
        detection.compute_capability = Some(fields[4].to_string());
        detection.gpus.push(GpuInfo {
            index,
            name: fields[1].to_string(),
            memory_mib: fields[2].parse().unwrap_or(0),
            utilization_percent: fields[3].parse().ok(),
        });
    }
    if detection.gpus.is_empty() {
        detection.none_because = Some("nvidia-smi lists no usable GPU".into());
    }
    detection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_csv_and_respects_visible_devices() {
        let text =
            "0, NVIDIA H100 80GB HBM3, 81559, 3, 9.0\n1, NVIDIA H100 80GB HBM3, 81559, 97, 9.0\n";
        let all = parse(text, None);
        assert_eq!(all.gpus.len(), 2);
        assert_eq!(all.gpus[1].utilization_percent, Some(97.0));
        assert_eq!(all.compute_capability.as_deref(), Some("9.0"));
        let one = parse(text, Some(&[1]));
        assert_eq!(one.gpus.len(), 1);
        assert_eq!(one.gpus[0].index, 1);
        assert!(parse("", None).none_because.is_some());
    }
}
