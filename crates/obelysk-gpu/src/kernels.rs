//! The kernel sources, as embedded in the binary.

/// Field arithmetic and grid-stride helpers, included by every kernel file.
pub const M31_HEADER: &str = include_str!("../kernels/m31.cuh");

/// One `.cu` file and the entry points it defines.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    pub file: &'static str,
    pub source: &'static str,
    pub functions: &'static [&'static str],
}

/// Every kernel file.
pub const SOURCES: [KernelSource; 11] = [
    KernelSource {
        file: "bit_reverse.cu",
        source: include_str!("../kernels/bit_reverse.cu"),
        functions: &["bit_reverse"],
    },
    KernelSource {
        file: "blake2s.cu",
        source: include_str!("../kernels/blake2s.cu"),
        functions: &[
            "merkle_leaves",
            "merkle_parents",
            "merkle_layers",
            "pow_grind",
        ],
    },
    KernelSource {
        file: "circle_fft.cu",
        source: include_str!("../kernels/circle_fft.cu"),
        functions: &[
            "fft_layers",
            "ifft_layers",
            "fft_pass",
            "ifft_pass",
            "scale",
            "zero_from",
        ],
    },
    KernelSource {
        file: "columns.cu",
        source: include_str!("../kernels/columns.cu"),
        functions: &[
            "copy_range",
            "add_assign",
            "lift_add",
            "gather",
            "gather_many",
            "copy_many",
            "pack_leaves",
        ],
    },
    KernelSource {
        file: "cpu_constraints.cu",
        source: include_str!("../kernels/cpu_constraints.cu"),
        functions: &["cpu_constraint_quotients"],
    },
    KernelSource {
        file: "table_constraints.cu",
        source: include_str!("../kernels/table_constraints.cu"),
        functions: &[
            "program_table_quotients",
            "range12_table_quotients",
            "range5_table_quotients",
            "register_memory_quotients",
            "data_memory_quotients",
        ],
    },
    KernelSource {
        file: "interaction.cu",
        source: include_str!("../kernels/interaction.cu"),
        functions: &["cpu_interaction_columns"],
    },
    KernelSource {
        file: "witness.cu",
        source: include_str!("../kernels/witness.cu"),
        functions: &["fill_cpu_columns", "count_lookups"],
    },
    KernelSource {
        file: "fri.cu",
        source: include_str!("../kernels/fri.cu"),
        functions: &["fri_fold"],
    },
    KernelSource {
        file: "quotients.cu",
        source: include_str!("../kernels/quotients.cu"),
        functions: &["quotient_numerators", "quotient_combine"],
    },
    KernelSource {
        file: "reduce.cu",
        source: include_str!("../kernels/reduce.cu"),
        functions: &[
            "eval_poly_partials",
            "eval_many_partials",
            "run_sums",
            "secure_sum_partials",
            "decompose_apply",
            "prefix_sum_partials",
            "prefix_sum_apply",
        ],
    },
];

impl KernelSource {
    /// The file with `m31.cuh` pasted in: NVRTC gets one self-contained program.
    pub fn program(&self) -> String {
        let body = self.source.replace("#include \"m31.cuh\"", "");
        format!("{M31_HEADER}\n// ---- {}\n{body}", self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel missing from its file's list is never loaded, and the backend finds out only
    /// on a device, mid-proof.
    #[test]
    fn every_entry_point_is_listed_and_every_listed_one_exists() {
        for source in &SOURCES {
            let defined: Vec<&str> = source
                .source
                .split("extern \"C\" __global__ void ")
                .skip(1)
                .map(|rest| {
                    let rest = match rest.strip_prefix("__launch_bounds__(") {
                        Some(bounded) => bounded.split_once(')').map_or("", |(_, r)| r),
                        None => rest,
                    };
                    rest.split('(').next().unwrap_or_default().trim()
                })
                .collect();
            for name in &defined {
                assert!(
                    source.functions.contains(name),
                    "{}: {name} is not in its list",
                    source.file
                );
            }
            for name in source.functions {
                assert!(
                    defined.contains(name),
                    "{}: {name} is listed but not defined",
                    source.file
                );
            }
        }
    }
}
