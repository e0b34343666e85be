//! The dashboard's chart of open findings over time, drawn as inline SVG on the server: the
//! console has no JavaScript and the CSP allows no inline script or style, so the chart is plain
//! markup with presentation attributes and a text alternative.

use jiff::civil::Date;

use crate::api::fleet::TrendPoint;

/// Drawing area in SVG user units; the element scales to its container.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
/// Room for the axis labels.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A chart ready for the template: every value is a number or a date, so nothing needs marking
/// safe.
pub(crate) struct Chart {
    pub width: f64,
    pub height: f64,
    /// `x,y` pairs of the line.
    pub line: String,
    /// The line closed down to the x axis, for the filled area.
    pub area: String,
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    /// Horizontal grid lines with their value.
    pub y_ticks: Vec<(f64, i64)>,
    /// Dates under the x axis, with their text anchor.
    pub x_ticks: Vec<(f64, String, &'static str)>,
    pub first: i64,
    pub last: i64,
    pub max: i64,
    pub from: String,
    pub to: String,
}

/// Open findings at the end of every day from `from` to `to`, carrying the last known total over
/// days without changes (the trend only has days on which something opened or closed).
pub(crate) fn daily_series(points: &[TrendPoint], from: Date, to: Date) -> Vec<(Date, i64)> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut open = 0;
    let mut day = from;
    while day <= to {
        while i < points.len() && points[i].day <= day {
            open = points[i].open;
            i += 1;
        }
        out.push((day, open));
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    out
}

/// A round upper bound for the y axis, so the grid lines fall on whole, readable numbers.
fn nice_max(max: i64) -> i64 {
    let max = max.max(4);
    let mut step = 1;
    while step * 10 < max {
        step *= 10;
    }
    for m in [1, 2, 4, 5, 10] {
        let top = step * m;
        if top >= max && top % 4 == 0 {
            return top;
        }
    }
    (max + 3) / 4 * 4
}

pub(crate) fn chart(series: &[(Date, i64)]) -> Chart {
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (y0, y1) = (HEIGHT - BOTTOM, TOP);
    let max = series.iter().map(|p| p.1).max().unwrap_or(0).max(0);
    let top = nice_max(max);
    let n = series.len().max(2) - 1;
    let x = |i: usize| x0 + (x1 - x0) * i as f64 / n as f64;
    let y = |v: i64| y0 - (y0 - y1) * v.max(0) as f64 / top as f64;
    let pts: Vec<(f64, f64)> = series
        .iter()
        .enumerate()
        .map(|(i, p)| (x(i), y(p.1)))
        .collect();
    let line = pts
        .iter()
        .map(|(a, b)| format!("{a:.1},{b:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = match (pts.first(), pts.last()) {
        (Some(f), Some(l)) => format!("{:.1},{y0:.1} {line} {:.1},{y0:.1}", f.0, l.0),
        _ => String::new(),
    };
    let y_ticks = (0..=4).map(|k| (y(top * k / 4), top * k / 4)).collect();
    let date = |i: usize| series.get(i).map(|p| p.0.to_string()).unwrap_or_default();
    let last = series.len().saturating_sub(1);
    let x_ticks = if series.is_empty() {
        Vec::new()
    } else {
        vec![
            (x(0), date(0), "start"),
            (x(last / 2), date(last / 2), "middle"),
            (x(last), date(last), "end"),
        ]
    };
    Chart {
        width: WIDTH,
        height: HEIGHT,
        line,
        area,
        x0,
        x1,
        y0,
        y_ticks,
        x_ticks,
        first: series.first().map(|p| p.1).unwrap_or(0),
        last: series.last().map(|p| p.1).unwrap_or(0),
        max,
        from: date(0),
        to: date(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn point(d: Date, open: i64) -> TrendPoint {
        TrendPoint { day: d, open }
    }

    #[test]
    fn days_without_changes_keep_the_last_total_and_earlier_history_counts() {
        let points = [
            point(date(2026, 1, 1), 3),
            point(date(2026, 3, 2), 5),
            point(date(2026, 3, 4), 2),
        ];
        let s = daily_series(&points, date(2026, 3, 1), date(2026, 3, 5));
        assert_eq!(
            s.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![3, 5, 5, 2, 2]
        );
        assert_eq!(s[0].0, date(2026, 3, 1));
        assert_eq!(s[4].0, date(2026, 3, 5));
    }

    #[test]
    fn the_line_spans_the_plot_and_the_axis_tops_out_at_a_round_number() {
        let s = vec![(date(2026, 3, 1), 0), (date(2026, 3, 2), 7)];
        let c = chart(&s);
        assert_eq!(
            c.line,
            format!("{LEFT:.1},{:.1} {:.1},{:.1}", c.y0, c.x1, y_of(&c, 7))
        );
        assert_eq!(c.y_ticks.last().map(|t| t.1), Some(8));
        assert_eq!(c.max, 7);
        assert_eq!(c.x_ticks.first().map(|t| t.1.as_str()), Some("2026-03-01"));
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(37), 40);
        assert_eq!(nice_max(120), 200);
    }

    fn y_of(c: &Chart, v: i64) -> f64 {
        c.y0 - (c.y0 - TOP) * v as f64 / 8.0
    }
}
