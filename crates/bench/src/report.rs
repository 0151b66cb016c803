//! The results table: one row per figure, with the goal, whether it was met, and the
//! figure of a peer (k3s) when one can be measured on this machine. Only formats; the
//! figures come from the measurements.

/// What a figure is compared against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    None,
    /// The figure must be at most this (seconds, bytes, ...; same unit as the figure).
    AtMost(f64, &'static str),
    /// The figure must be at least this.
    AtLeast(f64, &'static str),
}

pub struct Row {
    pub measurement: String,
    pub value: String,
    pub goal: Goal,
    /// The raw figure in the goal's unit, when there is a goal.
    pub figure: Option<f64>,
    pub peer: String,
}

impl Row {
    pub fn new(measurement: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            measurement: measurement.into(),
            value: value.into(),
            goal: Goal::None,
            figure: None,
            peer: String::new(),
        }
    }

    pub fn goal(mut self, goal: Goal, figure: f64) -> Row {
        self.goal = goal;
        self.figure = Some(figure);
        self
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::None => "-".into(),
            Goal::AtMost(_, text) | Goal::AtLeast(_, text) => text.into(),
        }
    }

    fn verdict(&self) -> &'static str {
        match (self.goal, self.figure) {
            (Goal::AtMost(limit, _), Some(figure)) if figure <= limit => "met",
            (Goal::AtLeast(limit, _), Some(figure)) if figure >= limit => "met",
            (Goal::None, _) | (_, None) => "",
            _ => "MISSED",
        }
    }
}

/// Renders rows as an aligned plain-text table.
pub fn render(rows: &[Row], peer_name: &str) -> String {
    let header = ["measurement", "peapod", "goal", "", peer_name];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [row.measurement.clone(), row.value.clone(), row.goal_text(), row.verdict().into(), row.peer.clone()]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_line = |line: &[String]| {
        let padded: Vec<String> = line.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    push_line(&header.map(String::from));
    push_line(&widths.map(|w| "-".repeat(w)));
    for line in &cells {
        push_line(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_goal_direction() {
        let fast = Row::new("start", "0.3 s").goal(Goal::AtMost(1.0, "< 1 s"), 0.3);
        let slow = Row::new("start", "2 s").goal(Goal::AtMost(1.0, "< 1 s"), 2.0);
        let rate = Row::new("creates", "2500/s").goal(Goal::AtLeast(2000.0, ">= 2000/s"), 2500.0);
        let low = Row::new("creates", "100/s").goal(Goal::AtLeast(2000.0, ">= 2000/s"), 100.0);
        let plain = Row::new("list", "1 s");
        assert_eq!(
            [fast.verdict(), slow.verdict(), rate.verdict(), low.verdict(), plain.verdict()],
            ["met", "MISSED", "met", "MISSED", ""]
        );
    }

    #[test]
    fn columns_are_aligned() {
        let mut row = Row::new("a long measurement name", "1");
        row.peer = "not available".into();
        let text = render(&[row, Row::new("b", "22")], "k3s");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let column = lines[0].find("peapod").expect("header");
        assert_eq!(lines[2].find('1'), Some(column));
        assert_eq!(lines[3].find("22"), Some(column));
        assert!(lines[2].ends_with("not available"));
    }
}
