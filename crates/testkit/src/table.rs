//! Parsing of the tables kubectl prints (`kubectl get`, `api-resources`), so tests can compare
//! headers exactly and cells by column, whatever the padding and however old the objects are.

/// A table printed by kubectl: the header cells and each row's cells, cut at the header's
/// column starts (kubectl aligns every cell with its header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Parses kubectl's aligned output; header cells are separated by at least two spaces
    /// (kubectl pads with three), words inside a header by one.
    pub fn parse(text: &str) -> Table {
        let mut lines = text.lines().filter(|line| !line.trim().is_empty());
        let Some(header) = lines.next() else { return Table { headers: Vec::new(), rows: Vec::new() } };
        let mut starts = Vec::new();
        let mut headers = Vec::new();
        let bytes: Vec<char> = header.chars().collect();
        let mut index = 0;
        while index < bytes.len() {
            if bytes[index] == ' ' {
                index += 1;
                continue;
            }
            let start = index;
            // A header cell ends at two consecutive spaces or the end of the line.
            while index < bytes.len() && !(bytes[index] == ' ' && bytes.get(index + 1).is_none_or(|c| *c == ' ')) {
                index += 1;
            }
            starts.push(start);
            headers.push(bytes[start..index].iter().collect::<String>());
        }
        let rows = lines
            .map(|line| {
                let chars: Vec<char> = line.chars().collect();
                (0..starts.len())
                    .map(|column| {
                        let from = starts[column].min(chars.len());
                        let to = starts.get(column + 1).copied().unwrap_or(chars.len()).min(chars.len());
                        chars[from..to].iter().collect::<String>().trim().to_string()
                    })
                    .collect()
            })
            .collect();
        Table { headers, rows }
    }

    /// The index of a header.
    #[track_caller]
    pub fn column(&self, header: &str) -> usize {
        match self.headers.iter().position(|h| h == header) {
            Some(index) => index,
            None => panic!("no column {header:?} in {:?}", self.headers),
        }
    }

    /// The row whose first cell (NAME, or the column named `key`) equals `name`.
    pub fn row(&self, name: &str) -> Option<&Vec<String>> {
        self.rows.iter().find(|row| row.first().is_some_and(|cell| cell == name))
    }

    /// The cell of `header` in the row named `name`.
    #[track_caller]
    pub fn cell(&self, name: &str, header: &str) -> &str {
        let column = self.column(header);
        match self.row(name) {
            Some(row) => &row[column],
            None => panic!("no row {name:?} in {self:?}"),
        }
    }

    /// The first cell of every row, in order.
    pub fn names(&self) -> Vec<&str> {
        self.rows.iter().filter_map(|row| row.first().map(String::as_str)).collect()
    }
}

/// Whether `cell` looks like a kubectl AGE (`0s`, `5m3s`, `2d`): digits and unit letters.
pub fn is_age(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit())
        && cell.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c))
        && cell.ends_with(|c: char| "smhdy".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_cells_at_header_columns_including_multi_word_headers() {
        let text = "NAME    READY   STATUS    RESTARTS   AGE   IP       NODE     NOMINATED NODE   READINESS GATES\n\
                    nginx   0/1     Pending   0          3s    <none>   <none>   <none>           <none>\n";
        let table = Table::parse(text);
        assert_eq!(
            table.headers,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
        );
        assert_eq!(table.cell("nginx", "STATUS"), "Pending");
        assert_eq!(table.cell("nginx", "READINESS GATES"), "<none>");
        assert!(is_age(table.cell("nginx", "AGE")));
    }

    #[test]
    fn empty_cells_stay_empty() {
        let table = Table::parse(
            "NAME       SHORTNAMES   APIVERSION\nbindings                v1\npods       po           v1\n",
        );
        assert_eq!(table.rows[0], ["bindings", "", "v1"]);
        assert_eq!(table.cell("pods", "SHORTNAMES"), "po");
    }

    #[test]
    fn ages() {
        for age in ["0s", "59s", "5m3s", "3h", "2d5h", "1y2d"] {
            assert!(is_age(age), "{age}");
        }
        for not_age in ["", "s", "<none>", "Pending", "5"] {
            assert!(!is_age(not_age), "{not_age}");
        }
    }
}
