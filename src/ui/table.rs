//! Column-aligned text tables, the `-o table` form of list-like data.

use std::fmt::Display;

/// A borderless table with upper-case headers, like `docker ps` or `kubectl get`.
pub struct Table(comfy_table::Table);

impl Table {
    pub fn new<I: IntoIterator<Item = &'static str>>(headers: I) -> Self {
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::NOTHING);
        table.set_header(headers.into_iter().map(|h| comfy_table::Cell::new(h.to_uppercase())));
        // Flush left with a gap of two between columns, as `docker ps` prints.
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        Self(table)
    }

    pub fn row<I: IntoIterator<Item = D>, D: Display>(&mut self, cells: I) -> &mut Self {
        self.0.add_row(cells.into_iter().map(|c| comfy_table::Cell::new(c.to_string())));
        self
    }
}

impl Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in self.0.lines() {
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
