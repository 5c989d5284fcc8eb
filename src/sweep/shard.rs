//! Splitting a sweep across machines or a Slurm job array: shard `i` of
//! `n` takes every n-th run of the recipe's list, starting at the i-th
//! (round-robin, so each shard gets a mix of conditions and seeds and the
//! shards finish together). Shards share nothing but the ledger folder
//! (`results/<sweep>/`, one file per run), so they run anywhere that folder
//! is shared or later merged; `negstudy sweep RECIPE --collect` writes the
//! report from it.

use anyhow::{bail, Context, Result};

/// One shard: `index` in 0..`count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Most shards (more would be more array tasks than a sweep has runs).
const MAX_SHARDS: usize = 100_000;

impl Shard {
    /// `I/N` (1-based, as people count shards), or `slurm`: the array task
    /// of a Slurm job array, from `SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`
    /// of `SLURM_ARRAY_TASK_COUNT` (an array without a step, e.g. `--array=0-7`).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        if text == "slurm" {
            return Shard::from_slurm(env);
        }
        let (i, n) = text
            .split_once('/')
            .with_context(|| format!("--shard '{text}': expected I/N (e.g. 2/8) or 'slurm'"))?;
        let number = |v: &str| -> Result<usize> {
            v.trim()
                .parse()
                .with_context(|| format!("--shard '{text}': '{v}' is not a whole number"))
        };
        let (i, n) = (number(i)?, number(n)?);
        if n == 0 || n > MAX_SHARDS || i == 0 || i > n {
            bail!("--shard '{text}': needs 1 ≤ I ≤ N ≤ {MAX_SHARDS}");
        }
        Ok(Shard {
            index: i - 1,
            count: n,
        })
    }

    fn from_slurm(env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let var = |name: &str| -> Result<usize> {
            let v = env(name).with_context(|| {
                format!("--shard slurm: {name} is not set (run it as a task of `sbatch --array`)")
            })?;
            v.trim()
                .parse()
                .with_context(|| format!("--shard slurm: {name}='{v}' is not a whole number"))
        };
        let (id, min, count) = (
            var("SLURM_ARRAY_TASK_ID")?,
            var("SLURM_ARRAY_TASK_MIN")?,
            var("SLURM_ARRAY_TASK_COUNT")?,
        );
        let index = id.checked_sub(min).unwrap_or(usize::MAX);
        if count == 0 || count > MAX_SHARDS || index >= count {
            bail!(
                "--shard slurm: task {id} of an array from {min} with {count} tasks; \
                 use a contiguous array without a step, e.g. --array=0-{}",
                count.max(1) - 1
            );
        }
        Ok(Shard { index, count })
    }

    /// Whether the run at `position` of the recipe's list is this shard's.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|v| v.0 == k).map(|v| v.1.to_string())
    }

    /// The shards of a list partition it: every position in exactly one.
    #[test]
    fn shards_partition_the_runs() {
        for n in 1..6 {
            let shards: Vec<Shard> = (1..=n)
                .map(|i| Shard::parse(&format!("{i}/{n}"), env(&[])).unwrap())
                .collect();
            for position in 0..23 {
                assert_eq!(shards.iter().filter(|s| s.takes(position)).count(), 1);
            }
        }
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", "-1/2"] {
            assert!(Shard::parse(bad, env(&[])).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_slurm_array_task_is_its_shard() {
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        let s = Shard::parse("slurm", env(&vars)).unwrap();
        assert_eq!((s.index, s.count), (2, 4));
        assert_eq!(s.to_string(), "3/4");
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        let e = Shard::parse("slurm", env(&stepped))
            .unwrap_err()
            .to_string();
        assert!(e.contains("without a step"), "{e}");
        let e = Shard::parse("slurm", env(&[])).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_ID is not set"), "{e}");
    }
}
