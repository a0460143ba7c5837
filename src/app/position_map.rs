//! Where the queries were taken: an easting/northing (or longitude/latitude, or frame) scatter
//! of the queries, green where the first match is a positive and red where it is not (grey:
//! no positive in the database), the selected query ringed. Clicking a point opens that query,
//! so a researcher sees where along the route the model fails.

use egui::Color32;
use egui_plot::{Legend, Plot, PlotPoints, Points};

use crate::data::Position;
use crate::retrieval::eval::Evaluation;

const HIT: Color32 = Color32::from_rgb(40, 170, 70);
const MISS: Color32 = Color32::from_rgb(210, 50, 50);
const NO_POSITIVE: Color32 = Color32::from_gray(140);
/// Height of the map when the route has one coordinate.
const STRIP_HEIGHT: f32 = 110.0;

/// The axis names of a position's frame.
fn axes(p: &Position) -> (&'static str, &'static str) {
    match p {
        Position::Metres { .. } => ("easting (m)", "northing (m)"),
        Position::Degrees { .. } => ("longitude (°)", "latitude (°)"),
        Position::Frame { .. } => ("frame", ""),
    }
}

/// Draw the map; returns the query clicked, if any. Nothing is drawn when the queries carry no
/// positions.
pub fn ui(ui: &mut egui::Ui, eval: &Evaluation, selected: Option<usize>) -> Option<usize> {
    let located: Vec<(usize, Position)> = eval
        .queries
        .items
        .iter()
        .enumerate()
        .filter_map(|(q, it)| it.position.map(|p| (q, p)))
        .collect();
    let first = located.first()?.1;
    ui.heading("Where the queries are");
    ui.weak("Green: the first match is a positive; red: it is not; grey: no positive in the database. Click a point to open that query.");
    let (x_label, y_label) = axes(&first);
    let class = |q: usize| match eval.true_match_rank(q) {
        Some(1) => 0,
        Some(_) => 1,
        None => 2,
    };
    let mut groups: [Vec<[f64; 2]>; 3] = Default::default();
    for &(q, p) in &located {
        let (x, y) = p.xy();
        groups[class(q)].push([x, y]);
    }
    // True to scale (1 m east = 1 m north) unless the route is nearly a line, which would
    // then be drawn one pixel high.
    let span = |k: usize| {
        let vals = groups.iter().flatten().map(|p| p[k]);
        vals.clone().fold(f64::NEG_INFINITY, f64::max) - vals.fold(f64::INFINITY, f64::min)
    };
    let (sx, sy) = (span(0), span(1));
    let to_scale = !matches!(first, Position::Frame { .. })
        && sx > 0.0
        && sy > 0.0
        && (sx / sy).max(sy / sx) < 8.0;
    // A route given by one coordinate (frame indices, or a rail line with equal northings) is
    // a strip, not a flat line along the bottom of a tall plot.
    let flat = sy == 0.0;
    let mut plot = Plot::new("position-map")
        .height(if flat { STRIP_HEIGHT } else { 260.0 })
        .legend(Legend::default());
    if to_scale {
        plot = plot.data_aspect(1.0);
    }
    if flat {
        let y = groups.iter().flatten().map(|p| p[1]).next().unwrap_or(0.0);
        plot = plot
            .include_y(y - 1.0)
            .include_y(y + 1.0)
            .show_axes([true, false])
            .show_grid([true, false]);
    }
    let resp = plot
        .x_axis_label(x_label)
        .y_axis_label(if flat { "" } else { y_label })
        .show(ui, |p| {
            for (k, (name, colour)) in [
                ("hit at R@1", HIT),
                ("miss at R@1", MISS),
                ("no positive", NO_POSITIVE),
            ]
            .into_iter()
            .enumerate()
            {
                if !groups[k].is_empty() {
                    p.points(
                        Points::new(name, PlotPoints::from(groups[k].clone()))
                            .color(colour)
                            .radius(3.0),
                    );
                }
            }
            if let Some((_, sp)) = located.iter().find(|(q, _)| Some(*q) == selected) {
                let (x, y) = sp.xy();
                p.points(
                    Points::new("selected", PlotPoints::from(vec![[x, y]]))
                        .color(Color32::WHITE)
                        .radius(6.0)
                        .filled(false),
                );
            }
            p.pointer_coordinate()
        });
    let pointer = resp.inner?;
    let at = resp.transform.position_from_point(&pointer);
    let (q, d) = located
        .iter()
        .map(|&(q, p)| {
            let (x, y) = p.xy();
            let s = resp
                .transform
                .position_from_point(&egui_plot::PlotPoint::new(x, y));
            (q, s.distance(at))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    if d >= 12.0 {
        return None;
    }
    let item = &eval.queries.items[q];
    resp.response.clone().on_hover_text_at_pointer(&item.name);
    resp.response.clicked().then_some(q)
}

/// "12.5 m from the query" (or frames), when both have positions in one frame.
pub fn distance_text(query: Option<Position>, other: Option<Position>) -> Option<String> {
    let (q, o) = (query?, other?);
    let d = q.distance(&o)?;
    Some(match q {
        Position::Frame { .. } => format!("{d:.0} frames from the query"),
        _ => format!("{d:.1} m from the query"),
    })
}
