//! Class names and WordNet ids of the bundled datasets.

/// Fashion-MNIST's 10 class names and their chosen WordNet 3.0 synsets
/// (`assets/classes/fashion_mnist_wordnet.tsv`; `Ankle boot` → `boot.n.01`).
pub fn fashion_mnist() -> (Vec<String>, Vec<String>) {
    let tsv = include_str!("../../assets/classes/fashion_mnist_wordnet.tsv");
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_string(), f[2].to_string())
        })
        .unzip()
}
