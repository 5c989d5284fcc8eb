//! What made a result: the commit, the CPU, the SIMD code paths the
//! run-time dispatchers chose on it, and the thread count. Written into
//! every sweep result and report manifest, because floating-point results
//! depend on the code path (an AVX-512 GEMM sums in a different order than
//! an AVX2 one) and the commit says which code made them.

use serde::{Deserialize, Serialize};

/// The build and machine a result came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` at build time, `-dirty` if tracked files differed.
    pub commit: String,
    pub negstudy_version: String,
    /// The CPU's model name (`/proc/cpuinfo`), or the architecture.
    pub cpu: String,
    /// The code path each run-time dispatcher takes on this CPU.
    pub simd: String,
    /// Threads in the pool that ran it (rayon).
    pub threads: usize,
}

impl Provenance {
    /// The provenance of work done now, in this process, on this pool.
    pub fn current() -> Provenance {
        Provenance {
            commit: env!("NEGSTUDY_COMMIT").into(),
            negstudy_version: crate::VERSION.into(),
            cpu: cpu_model(),
            simd: simd_paths(),
            threads: rayon::current_num_threads(),
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The dispatchers and what each picks: the `gemm` crate (negstudy's
/// kernels and probe: FMA/AVX2 micro-kernels, else scalar), the native
/// kernels' `multiversion` loops (AVX2, else baseline x86-64), and the
/// CPU's widest vector extension, which burn's SIMD ops may use.
fn simd_paths() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let has = |f: bool, name: &'static str| if f { name } else { "" };
        let avx512 = std::arch::is_x86_feature_detected!("avx512f");
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        let fma = std::arch::is_x86_feature_detected!("fma");
        let widest = [has(avx512, "avx512f"), has(avx2 && !avx512, "avx2")]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("sse2");
        format!(
            "gemm={} kernels={} cpu={widest}",
            if fma { "fma" } else { "scalar" },
            if avx2 { "avx2" } else { "x86-64" },
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        format!("{} (no x86 dispatch)", std::env::consts::ARCH)
    }
}

#[cfg(test)]
mod tests {
    use super::Provenance;

    #[test]
    fn names_the_commit_cpu_and_threads() {
        let p = Provenance::current();
        assert!(!p.commit.is_empty());
        assert!(!p.cpu.is_empty());
        assert!(
            p.simd.contains("gemm=") || p.simd.contains("no x86"),
            "{}",
            p.simd
        );
        assert!(!p.simd.contains(','), "one CSV cell: {}", p.simd);
        assert!(p.threads >= 1);
    }
}
