//! Aligned tables as kubectl prints them: upper-case headers, columns padded to their widest
//! cell and separated by three spaces, no trailing blanks. Colours are added after padding so
//! escape codes never shift a column.

use super::output::{Palette, Tone};

/// One cell: its text and how to colour it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    text: String,
    tone: Tone,
}

impl Cell {
    /// A cell in `tone`.
    pub fn new(text: impl Into<String>, tone: Tone) -> Self {
        Self {
            text: text.into(),
            tone,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self::new(text, Tone::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::new(text, Tone::Plain)
    }
}

/// A table being built.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// Space between columns, as kubectl's tab writer leaves.
const GAP: usize = 3;

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row after the header line.
    pub fn render(&self, palette: Palette) -> String {
        let columns = self.headers.len();
        let width = |text: &str| text.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().take(columns).enumerate() {
                widths[i] = widths[i].max(width(&cell.text));
            }
        }
        let blank = Cell::from("");
        let line = |cells: Vec<(&str, Tone)>| {
            let mut out = String::new();
            for (i, (text, tone)) in cells.iter().enumerate() {
                out.push_str(&palette.paint(*tone, text));
                if i + 1 < cells.len() {
                    let pad = widths[i] - width(text) + GAP;
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = line(
            self.headers
                .iter()
                .map(|h| (h.as_str(), Tone::Header))
                .collect(),
        );
        out.push('\n');
        for row in &self.rows {
            let cells = (0..columns)
                .map(|i| {
                    let cell = row.get(i).unwrap_or(&blank);
                    (cell.text.as_str(), cell.tone)
                })
                .collect();
            out.push_str(&line(cells));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut t = Table::new(&["NAME", "READY", "REASON"]);
        t.row(vec![
            "app".into(),
            Cell::new("True", Tone::Good),
            "SecretSynced".into(),
        ]);
        t.row(vec!["payments-api".into(), Cell::new("False", Tone::Bad)]);
        assert_eq!(
            t.render(Palette::plain()),
            "NAME           READY   REASON\n\
             app            True    SecretSynced\n\
             payments-api   False\n"
        );
    }

    #[test]
    fn colour_codes_do_not_shift_columns() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec![Cell::new("x", Tone::Bad), "y".into()]);
        let text = t.render(Palette::coloured());
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row, "\x1b[31mx\x1b[0m   y");
    }
}
