//! Tidy tables: named, typed columns of equal length. Analyses return them;
//! `report` writes them as CSV (via polars) and renders them in index.md.

/// One column's values. Floats that are NaN are written as empty (missing).
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Text(Vec<String>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cell `i` as text, for Markdown tables.
    pub fn cell(&self, i: usize) -> String {
        match self {
            Values::Int(v) => v[i].to_string(),
            Values::Float(v) if v[i].is_nan() => String::new(),
            Values::Float(v) => format!("{:.4}", v[i]),
            Values::Text(v) => v[i].clone(),
        }
    }
}

/// A table with a file stem (`same_class_by_bin` → `same_class_by_bin.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, Values)>,
}

impl Table {
    pub fn new(name: &str) -> Table {
        Table {
            name: name.to_string(),
            columns: Vec::new(),
        }
    }

    pub fn int(mut self, name: &str, v: Vec<i64>) -> Table {
        self.columns.push((name.to_string(), Values::Int(v)));
        self
    }

    pub fn float(mut self, name: &str, v: Vec<f64>) -> Table {
        self.columns.push((name.to_string(), Values::Float(v)));
        self
    }

    pub fn text(mut self, name: &str, v: Vec<String>) -> Table {
        self.columns.push((name.to_string(), Values::Text(v)));
        self
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.1.len())
    }

    pub fn column(&self, name: &str) -> Option<&Values> {
        self.columns.iter().find(|c| c.0 == name).map(|c| &c.1)
    }

    /// How many cells differ from `other`'s, and how many were compared:
    /// integers and text exactly, floats beyond `rel` relative difference,
    /// absolute for magnitudes below 1 (NaN equals NaN; sums taken in
    /// another order differ in their last bits, absolutely). A column
    /// missing or of another length or type counts all its cells.
    pub fn differing_cells(&self, other: &Table, rel: f64) -> (usize, usize) {
        let close = |a: f64, b: f64| {
            (a.is_nan() && b.is_nan())
                || a == b
                || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
        };
        let mut differing = 0;
        let mut total = 0;
        for (name, a) in &self.columns {
            total += a.len();
            differing += match (a, other.column(name)) {
                (Values::Int(x), Some(Values::Int(y))) if x.len() == y.len() => {
                    x.iter().zip(y).filter(|(a, b)| a != b).count()
                }
                (Values::Text(x), Some(Values::Text(y))) if x.len() == y.len() => {
                    x.iter().zip(y).filter(|(a, b)| a != b).count()
                }
                (Values::Float(x), Some(Values::Float(y))) if x.len() == y.len() => {
                    x.iter().zip(y).filter(|(&a, &b)| !close(a, b)).count()
                }
                _ => a.len(),
            };
        }
        (differing, total)
    }

    /// Rows `idx` rendered as a Markdown table.
    pub fn markdown(&self, idx: impl IntoIterator<Item = usize>) -> String {
        let mut s = format!(
            "| {} |\n",
            self.columns
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        s.push_str(&format!("|{}\n", "---|".repeat(self.columns.len())));
        for i in idx {
            let cells: Vec<String> = self.columns.iter().map(|c| c.1.cell(i)).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s
    }
}
