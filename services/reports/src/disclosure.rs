//! Disclosure control of public reports: small cells suppressed, with complementary
//! suppression so that totals, sums and rates cannot give a suppressed cell back.
//!
//! Every shown count and share of a report becomes a node; what links them becomes a rule:
//! - **primary**: a count of 1 to k−1 dossiers (zero describes no one and is shown), and a
//!   share whose numerator, denominator or their difference is 1 to k−1;
//! - **equations**: cells any one of which follows from the others — a column with its total
//!   row, and in a row a sum with its terms (`counter = received − online − postal`) or a
//!   share's numerator, denominator and rest (`on time + late = resolved`). An equation with a
//!   hidden cell gets a second one hidden, the smallest (totals last), until its hidden cells
//!   hold at least k dossiers between them, so the pair cannot be bounded to a small number;
//! - **rates**: a share is hidden with its numerator, denominator or rest in the same row
//!   (its value times the shown denominator would give the hidden numerator back);
//! - **the same quantity** shown twice (a total row and a named figure, an agency's row in two
//!   tables): hidden everywhere when hidden once.
//!
//! The rules run to a fixed point. This is the row-and-column ("hypercube") heuristic of
//! statistical offices, not a linear-programming audit: it stops every single-equation
//! recovery, not every bound a determined analyst might derive from many tables at once.
//! Denominators are matched to the counts they equal (`online_uptake`'s is `received`,
//! `on_time_rate`'s is taken as `resolved`): an equation assumed where there is none only
//! hides more.

use std::collections::BTreeMap;

use parwatch_metrics::{MetricDef, Unit};

use crate::definition::{Expr, Field};

/// A canonical count: a count metric, or a share's numerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Atom {
    /// A count metric's value.
    Count(&'static str),
    /// A share's numerator.
    Numerator(&'static str),
    /// A share's denominator that equals no count metric.
    Denominator(&'static str),
}

/// The count a share's denominator equals, where there is one.
fn denominator(metric: &'static str) -> Atom {
    match metric {
        "online_uptake" | "full_online_share" | "postal_share" => Atom::Count("received"),
        "apology_rate" => Atom::Count("late_files"),
        "apology_timely_rate" => Atom::Numerator("apology_rate"),
        // Exactly `resolved` for digitised results; for on-time, the resolved dossiers that
        // have a receipt — nearly all, so taken as equal (it only hides more).
        "digitized_share" | "on_time_rate" => Atom::Count("resolved"),
        other => Atom::Denominator(other),
    }
}

/// What a cell shows: a signed sum of atoms, or a share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Quantity {
    /// A count: each atom with its coefficient.
    Count(BTreeMap<Atom, i64>),
    /// The value of a share.
    Rate(&'static str),
}

impl Quantity {
    /// What `expr` shows, or `None` for what disclosure control leaves alone (days, ranks,
    /// points).
    pub(crate) fn of(expr: &Expr) -> Option<Self> {
        if let [term] = expr.terms.as_slice()
            && term.field == Field::Value
        {
            return match term.metric.unit {
                Unit::Ratio => Some(Self::Rate(term.metric.name)),
                Unit::Dossiers => Some(Self::Count(BTreeMap::from([(
                    Atom::Count(term.metric.name),
                    term.sign,
                )]))),
                _ => None,
            };
        }
        let mut atoms: BTreeMap<Atom, i64> = BTreeMap::new();
        let mut add = |atom, by: i64| {
            *atoms.entry(atom).or_default() += by;
        };
        for term in &expr.terms {
            let m: &'static MetricDef = term.metric;
            match term.field {
                Field::Value => add(Atom::Count(m.name), term.sign),
                Field::Numerator => add(Atom::Numerator(m.name), term.sign),
                Field::Denominator => add(denominator(m.name), term.sign),
                Field::Rest => {
                    add(denominator(m.name), term.sign);
                    add(Atom::Numerator(m.name), -term.sign);
                }
            }
        }
        atoms.retain(|_, c| *c != 0);
        Some(Self::Count(atoms))
    }

    /// Whether it is a count (it takes part in its column's equation with the total).
    pub(crate) fn is_count(&self) -> bool {
        matches!(self, Self::Count(_))
    }

    /// The atoms of a share: its numerator and denominator.
    fn rate_atoms(metric: &'static str) -> [Atom; 2] {
        [Atom::Numerator(metric), denominator(metric)]
    }
}

/// One shown figure.
#[derive(Debug, Clone)]
struct Node {
    value: f64,
    /// A share's numerator and denominator.
    parts: Option<(f64, f64)>,
    /// In a total row: hidden last.
    total: bool,
}

/// One cell of a row handed to [`Grid::row`].
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    /// What it shows.
    pub(crate) quantity: Quantity,
    /// Its value; `None` shows nothing and takes no part.
    pub(crate) value: Option<f64>,
    /// A share's numerator and denominator.
    pub(crate) parts: Option<(f64, f64)>,
}

/// The figures of a report and what links them.
#[derive(Debug, Default)]
pub(crate) struct Grid {
    nodes: Vec<Node>,
    /// Sets of nodes any one of which follows from the others.
    equations: Vec<Vec<usize>>,
    /// A share and the nodes of its numerator, denominator and rest in its row.
    rates: Vec<(usize, Vec<usize>)>,
    /// Nodes by row key and quantity: the same figure wherever it is shown.
    same: BTreeMap<(String, Quantity), Vec<usize>>,
    /// Nodes withheld together (a chart point's value, numerator and denominator).
    together: Vec<Vec<usize>>,
}

impl Grid {
    /// Adds a row (`key`: an agency code, a month, or `total` for the whole period and scope)
    /// and its equations; returns each cell's node.
    pub(crate) fn row(&mut self, key: &str, cells: Vec<Cell>) -> Vec<Option<usize>> {
        let total = key == "total";
        let ids: Vec<Option<usize>> = cells
            .iter()
            .map(|c| {
                let value = c.value?;
                let id = self.nodes.len();
                self.nodes.push(Node {
                    value,
                    parts: c.parts,
                    total,
                });
                self.same
                    .entry((key.to_owned(), c.quantity.clone()))
                    .or_default()
                    .push(id);
                Some(id)
            })
            .collect();
        let shown: Vec<(usize, &Quantity)> = cells
            .iter()
            .zip(&ids)
            .filter_map(|(c, id)| Some(((*id)?, &c.quantity)))
            .collect();
        let single = |atom: Atom| {
            shown.iter().find_map(|(id, q)| match q {
                Quantity::Count(a)
                    if a.len() == 1 && a.get(&atom).is_some_and(|c| c.abs() == 1) =>
                {
                    Some(*id)
                }
                _ => None,
            })
        };
        for (id, q) in &shown {
            match q {
                // A sum with every term shown on its own is an equation.
                Quantity::Count(atoms) if atoms.len() > 1 => {
                    let terms: Option<Vec<usize>> = atoms.keys().map(|a| single(*a)).collect();
                    if let Some(mut terms) = terms {
                        terms.push(*id);
                        self.equations.push(terms);
                    }
                }
                Quantity::Rate(metric) => {
                    let atoms = Quantity::rate_atoms(metric);
                    let linked = shown
                        .iter()
                        .filter(|(_, q)| match q {
                            Quantity::Count(a) => {
                                !a.is_empty() && a.keys().all(|k| atoms.contains(k))
                            }
                            Quantity::Rate(_) => false,
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    self.rates.push((*id, linked));
                }
                Quantity::Count(_) => {}
            }
        }
        ids
    }

    /// Makes `nodes` withheld together: one hidden hides all.
    fn together(&mut self, nodes: Vec<usize>) {
        self.together.push(nodes);
    }

    /// Adds a column's equation: its rows' nodes with the total row's.
    pub(crate) fn column(&mut self, nodes: Vec<usize>) {
        if nodes.len() > 1 {
            self.equations.push(nodes);
        }
    }

    /// Which nodes to hide for a threshold of `k` dossiers.
    pub(crate) fn solve(&self, k: u32) -> Vec<bool> {
        let k = f64::from(k);
        let small = |v: f64| v.abs() > 0.0 && v.abs() < k;
        let mut hidden: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| match n.parts {
                Some((num, den)) => small(num) || small(den) || small(den - num),
                None => small(n.value),
            })
            .collect();
        loop {
            let mut changed = false;
            for ids in self.same.values().chain(&self.together) {
                if ids.iter().any(|i| hidden[*i]) {
                    for i in ids {
                        changed |= !std::mem::replace(&mut hidden[*i], true);
                    }
                }
            }
            for (rate, linked) in &self.rates {
                if !hidden[*rate] && linked.iter().any(|i| hidden[*i]) {
                    hidden[*rate] = true;
                    changed = true;
                }
            }
            for equation in &self.equations {
                let (count, sum) = equation
                    .iter()
                    .filter(|i| hidden[**i])
                    .fold((0, 0.0), |(n, s), i| {
                        (n + 1, s + self.nodes[*i].value.abs())
                    });
                if count == 0 || (count >= 2 && sum >= k) {
                    continue;
                }
                // The smallest shown cell, totals last; a zero only when nothing else is left.
                let pick = equation
                    .iter()
                    .copied()
                    .filter(|i| !hidden[*i])
                    .min_by(|a, b| {
                        let key = |i: usize| {
                            let n = &self.nodes[i];
                            (n.total, n.value == 0.0, n.value.abs())
                        };
                        let (ka, kb) = (key(*a), key(*b));
                        (ka.0, ka.1)
                            .cmp(&(kb.0, kb.1))
                            .then(ka.2.total_cmp(&kb.2))
                            .then(a.cmp(b))
                    });
                if let Some(i) = pick {
                    hidden[i] = true;
                    changed = true;
                }
            }
            if !changed {
                return hidden;
            }
        }
    }
}

/// Disclosure control of points that add up to a total shown elsewhere — a chart's buckets, a
/// ranking's agencies, whose sum a stat panel of the same range shows: each point's numerator
/// and denominator (a count has no denominator) follow the rules above, each column of them
/// with its total; returns which points to withhold (all their figures). Used by public
/// dashboard embeds.
pub fn suppress_points(points: &[(Option<i64>, Option<i64>)], min_dossiers: u32) -> Vec<bool> {
    const POINT: &str = "point";
    let numerator = Quantity::Count(BTreeMap::from([(Atom::Numerator(POINT), 1)]));
    let denominator = Quantity::Count(BTreeMap::from([(Atom::Denominator(POINT), 1)]));
    let mut grid = Grid::default();
    let row = |grid: &mut Grid, key: &str, n: Option<i64>, d: Option<i64>| {
        let (n, d) = (n.map(|v| v as f64), d.map(|v| v as f64));
        let rate = n.zip(d);
        grid.row(
            key,
            vec![
                Cell {
                    quantity: numerator.clone(),
                    value: n,
                    parts: None,
                },
                Cell {
                    quantity: denominator.clone(),
                    value: d,
                    parts: None,
                },
                Cell {
                    quantity: Quantity::Rate(POINT),
                    value: rate.map(|_| 0.0),
                    parts: rate,
                },
            ],
        )
    };
    let nodes: Vec<Vec<Option<usize>>> = points
        .iter()
        .enumerate()
        .map(|(i, (n, d))| row(&mut grid, &i.to_string(), *n, *d))
        .collect();
    for r in &nodes {
        grid.together(r.iter().flatten().copied().collect());
    }
    let numerators = points.iter().filter_map(|p| p.0).reduce(|a, b| a + b);
    let denominators = points.iter().filter_map(|p| p.1).reduce(|a, b| a + b);
    let total = row(&mut grid, "total", numerators, denominators);
    for c in 0..2 {
        let column = nodes
            .iter()
            .chain(std::iter::once(&total))
            .filter_map(|r| r[c])
            .collect();
        grid.column(column);
    }
    let hidden = grid.solve(min_dossiers);
    nodes
        .iter()
        .map(|r| r.iter().flatten().any(|i| hidden[*i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(text: &str) -> Expr {
        Expr::parse(text).unwrap()
    }

    /// A row of cells for the expressions `exprs` with `values`.
    fn cells(exprs: &[&str], values: &[f64]) -> Vec<Cell> {
        exprs
            .iter()
            .zip(values)
            .map(|(e, v)| Cell {
                quantity: Quantity::of(&expr(e)).unwrap(),
                value: Some(*v),
                parts: None,
            })
            .collect()
    }

    /// Adds rows `rows` (key, values) of `exprs` and a column equation per column.
    fn table(grid: &mut Grid, exprs: &[&str], rows: &[(&str, Vec<f64>)]) -> Vec<Vec<usize>> {
        let ids: Vec<Vec<usize>> = rows
            .iter()
            .map(|(key, values)| {
                grid.row(key, cells(exprs, values))
                    .into_iter()
                    .map(Option::unwrap)
                    .collect()
            })
            .collect();
        for c in 0..exprs.len() {
            grid.column(ids.iter().map(|r| r[c]).collect());
        }
        ids
    }

    #[test]
    fn a_lone_small_cell_in_a_row_is_joined_by_the_next_smallest() {
        // A row's parts and its total: 3 alone hidden would be 25 − 10 − 12.
        let mut grid = Grid::default();
        let exprs = ["received - online_uptake.numerator - postal_share.numerator"];
        let parts = [
            "online_uptake.numerator",
            "postal_share.numerator",
            "received",
        ];
        let mut row = cells(&parts, &[3.0, 10.0, 25.0]);
        row.extend(cells(&exprs, &[12.0]));
        let ids = grid.row("A", row);
        let hidden = grid.solve(5);
        let shown: Vec<bool> = ids.iter().map(|i| !hidden[i.unwrap()]).collect();
        // online 3 (small), postal 10 (next smallest) hidden; the total and counter shown.
        assert_eq!(shown, [false, false, true, true]);
    }

    #[test]
    fn a_column_total_needs_a_second_hidden_cell_and_so_does_its_row() {
        let mut grid = Grid::default();
        let exprs = [
            "received",
            "online_uptake.numerator",
            "received - online_uptake.numerator",
        ];
        let ids = table(
            &mut grid,
            &exprs,
            &[
                ("A", vec![23.0, 3.0, 20.0]),
                ("B", vec![70.0, 30.0, 40.0]),
                ("C", vec![90.0, 45.0, 45.0]),
                ("total", vec![183.0, 78.0, 105.0]),
            ],
        );
        let hidden = grid.solve(5);
        let at = |r: usize, c: usize| hidden[ids[r][c]];
        // A's online (3) is small; its row hides counter (20 < 23); the online column hides
        // B's 30; the counter column then B's 40: a rectangle no total gives back.
        assert!(at(0, 1) && at(0, 2) && at(1, 1) && at(1, 2));
        assert!(!at(0, 0) && !at(1, 0));
        assert!((0..3).all(|c| !at(2, c) && !at(3, c)), "C and totals shown");
    }

    #[test]
    fn a_hidden_pair_holds_at_least_k_dossiers() {
        // 1 and 2 hidden together would still bound both to 3 or less: a third joins.
        let mut grid = Grid::default();
        let ids = table(
            &mut grid,
            &["received"],
            &[
                ("A", vec![1.0]),
                ("B", vec![2.0]),
                ("C", vec![40.0]),
                ("D", vec![50.0]),
                ("total", vec![93.0]),
            ],
        );
        let hidden = grid.solve(5);
        let hidden: Vec<bool> = ids.iter().map(|r| hidden[r[0]]).collect();
        assert_eq!(hidden, [true, true, true, false, false]);
    }

    #[test]
    fn a_share_is_hidden_with_its_numerator_and_when_its_counts_are_small() {
        let mut grid = Grid::default();
        let mut row = cells(
            &["resolved", "on_time_rate.numerator", "on_time_rate.rest"],
            &[40.0, 38.0, 2.0],
        );
        row.push(Cell {
            quantity: Quantity::of(&expr("digitized_share")).unwrap(),
            value: Some(0.5),
            parts: Some((20.0, 40.0)),
        });
        row.push(Cell {
            quantity: Quantity::of(&expr("on_time_rate")).unwrap(),
            value: Some(0.95),
            parts: Some((38.0, 40.0)),
        });
        let ids = grid.row("A", row);
        let hidden = grid.solve(5);
        let hidden: Vec<bool> = ids.iter().map(|i| hidden[i.unwrap()]).collect();
        // late 2 is small; on time + late = resolved hides on time (38 < 40); the on-time
        // share follows (and is small by its rest anyway); digitised is untouched.
        assert_eq!(hidden, [false, true, true, false, true]);
    }

    #[test]
    fn points_of_a_chart_are_withheld_with_a_complement() {
        // Counts by month: 3 is small; alone it is the range's total less the rest, so the
        // next smallest month goes with it.
        let counts = [
            (Some(40), None),
            (Some(3), None),
            (Some(12), None),
            (Some(0), None),
        ];
        assert_eq!(suppress_points(&counts, 5), [false, true, true, false]);
        // A share of 2 late of 40: small by its rest; its complement in the column is the
        // smallest other month's.
        let shares = [
            (Some(38), Some(40)),
            (Some(50), Some(50)),
            (Some(90), Some(100)),
        ];
        assert_eq!(suppress_points(&shares, 5), [true, true, false]);
        // A ranking of one agency (an embed locked to it): primary only.
        assert_eq!(suppress_points(&[(Some(4), Some(9))], 5), [true]);
        assert_eq!(suppress_points(&[(Some(9), Some(9))], 5), [false]);
        assert_eq!(suppress_points(&counts, 3), [false, false, false, false]);
    }

    #[test]
    fn the_same_figure_is_hidden_everywhere_and_nothing_is_hidden_above_k() {
        // A table's total row hides postal 4 and online 30 with it; the named figure
        // `online` (the same total) must not show the 30 back.
        let mut grid = Grid::default();
        let table = grid.row(
            "total",
            cells(
                &[
                    "online_uptake.numerator",
                    "postal_share.numerator",
                    "received",
                    "received - online_uptake.numerator - postal_share.numerator",
                ],
                &[30.0, 4.0, 300.0, 266.0],
            ),
        );
        let figure = grid.row("total", cells(&["online_uptake.numerator"], &[30.0]));
        let other = grid.row("B", cells(&["online_uptake.numerator"], &[30.0]));
        let hidden = grid.solve(5);
        let table: Vec<bool> = table.iter().map(|i| hidden[i.unwrap()]).collect();
        assert_eq!(table, [true, true, false, false]);
        assert!(hidden[figure[0].unwrap()], "the same figure, hidden too");
        assert!(
            !hidden[other[0].unwrap()],
            "another agency's 30 is another figure"
        );
        assert!(grid.solve(4).iter().all(|h| !h), "k = 4: 4 is not small");
    }
}
