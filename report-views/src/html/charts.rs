//! Chart helpers: each takes plain data and returns one inline `<svg>` element as a string,
//! drawn with plotters' SVG backend (no fonts loaded: text is SVG `<text>` the browser sets).
//! They know nothing of reports, so sweeps and comparisons can reuse them.

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One colour per party, used by every chart and by the page's CSS.
pub const PLATFORM_COLOUR: RGBColor = RGBColor(37, 99, 235);
pub const BANK_COLOUR: RGBColor = RGBColor(217, 119, 6);
/// NIST 800-122 classes: low, moderate, high.
pub const SENSITIVITY_COLOURS: [RGBColor; 3] = [RGBColor(74, 160, 96), RGBColor(230, 160, 30), RGBColor(200, 50, 50)];
/// Outcomes and events.
pub const AGREEMENT_COLOUR: RGBColor = RGBColor(22, 150, 80);
pub const WITHDRAWAL_COLOUR: RGBColor = RGBColor(205, 45, 45);
pub const NEUTRAL_COLOUR: RGBColor = RGBColor(120, 120, 130);
/// A categorical palette (Tableau 10, colour-blind aware) for series without a fixed colour.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";
const TEXT: RGBColor = RGBColor(40, 44, 52);
const GRID: RGBColor = RGBColor(225, 228, 234);
/// Rough width of one character of 12–13 px sans-serif text, for laying out labels.
const CHAR_PX: u32 = 8;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChartError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError(e.to_string())
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swatch {
    Line,
    Dashed,
    Dotted,
    Box,
    Dot,
    Ring,
    Triangle,
    Cross,
}

#[derive(Clone, Debug)]
pub struct LegendEntry {
    pub label: String,
    pub colour: RGBColor,
    pub swatch: Swatch,
}

/// The plotters SVG, made fit for inlining: no namespace URL (HTML needs none), and sized by
/// the page (the view box keeps the aspect ratio).
fn finish(svg: String, label: &str) -> String {
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let Some(start) = svg.find("viewBox=") else { return svg };
    let mut out = String::with_capacity(svg.len() + 64);
    out.push_str("<svg class=\"chart\" role=\"img\" aria-label=\"");
    out.push_str(&escape_attribute(label));
    out.push_str("\" ");
    out.push_str(&svg[start..]);
    out
}

fn escape_attribute(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text of `px` pixels (plotters writes SVG font sizes as size / 1.24).
/// The grid and axes every chart draws.
fn house_style<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.max_light_lines(1)
        .light_line_style(GRID.mix(0.4))
        .bold_line_style(GRID)
        .axis_style(NEUTRAL_COLOUR)
        .label_style(text_style(13, TEXT))
        .axis_desc_style(text_style(14, TEXT))
}

fn text_style(px: u32, colour: RGBColor) -> TextStyle<'static> {
    let mut style = TextStyle::from((FONT, f64::from(px) * 1.24).into_font());
    style.color = colour.to_backend_color();
    style
}

fn legend_rows(entries: &[LegendEntry], width: u32) -> Vec<Vec<(u32, &LegendEntry)>> {
    let mut rows: Vec<Vec<(u32, &LegendEntry)>> = vec![Vec::new()];
    let mut x = 0;
    for e in entries {
        let w = 34 + CHAR_PX * e.label.chars().count() as u32 + 18;
        if x > 0 && x + w > width {
            rows.push(Vec::new());
            x = 0;
        }
        rows.last_mut().expect("one row at least").push((x, e));
        x += w;
    }
    rows
}

const LEGEND_ROW_PX: u32 = 24;

fn legend_height(entries: &[LegendEntry], width: u32) -> u32 {
    if entries.is_empty() { 0 } else { legend_rows(entries, width - 80).len() as u32 * LEGEND_ROW_PX + 10 }
}

/// A legend laid out in rows across the top of the chart.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    width: u32,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let left = 70;
    for (r, row) in legend_rows(entries, width - 80).into_iter().enumerate() {
        let y = 8 + r as i32 * LEGEND_ROW_PX as i32 + LEGEND_ROW_PX as i32 / 2;
        for (x, e) in row {
            let x = left + x as i32;
            let style = ShapeStyle::from(&e.colour).stroke_width(2);
            match e.swatch {
                Swatch::Line => area.draw(&PathElement::new(vec![(x, y), (x + 26, y)], style))?,
                Swatch::Dashed => {
                    area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], style))?;
                    area.draw(&PathElement::new(vec![(x + 13, y), (x + 21, y)], style))?;
                }
                Swatch::Dotted => {
                    for dx in [0, 6, 12, 18, 24] {
                        area.draw(&Circle::new((x + dx, y), 1, style.filled()))?;
                    }
                }
                Swatch::Box => area.draw(&Rectangle::new([(x + 4, y - 6), (x + 22, y + 6)], style.filled()))?,
                Swatch::Dot => area.draw(&Circle::new((x + 13, y), 5, style.filled()))?,
                Swatch::Ring => area.draw(&Circle::new((x + 13, y), 6, style))?,
                Swatch::Triangle => area.draw(&TriangleMarker::new((x + 13, y), 7, style.filled()))?,
                Swatch::Cross => area.draw(&Cross::new((x + 13, y), 5, style))?,
            }
            area.draw(&Text::new(
                e.label.clone(),
                (x + 34, y),
                text_style(14, TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
    }
    Ok(())
}

/// `1.2k`, `3.4M`: short numbers for axes and bar ends.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One move of a negotiation as the dance chart shows it.
#[derive(Clone, Debug)]
pub struct DanceOffer {
    /// Round, plus ½ for the side that moves second in a round.
    pub x: f64,
    pub by_platform: bool,
    pub utility_platform: f64,
    pub utility_bank: f64,
}

/// How the negotiation ended, drawn as a vertical marker with a label.
#[derive(Clone, Debug)]
pub struct DanceEnd {
    pub x: f64,
    pub label: String,
    pub colour: RGBColor,
    /// Both sides' utilities of the agreed outcome, marked on the chart.
    pub agreed: Option<(f64, f64)>,
}

/// The negotiation "dance": each side's utility of every offer, round by round.
#[derive(Clone, Debug)]
pub struct Dance {
    pub title: String,
    pub rounds: u32,
    pub offers: Vec<DanceOffer>,
    pub reservation_platform: f64,
    pub reservation_bank: f64,
    pub end: Option<DanceEnd>,
}

/// Colour says whose utility; a solid line is a side's own offers, a dashed line the other
/// side's offers. Where a solid and a dashed line of one colour meet, that side could accept.
pub fn dance_chart(d: &Dance) -> Result<String, ChartError> {
    let legend = vec![
        LegendEntry {
            label: "platform's utility of its own offers".into(),
            colour: PLATFORM_COLOUR,
            swatch: Swatch::Line,
        },
        LegendEntry {
            label: "platform's utility of the bank's offers".into(),
            colour: PLATFORM_COLOUR,
            swatch: Swatch::Dashed,
        },
        LegendEntry { label: "bank's utility of its own offers".into(), colour: BANK_COLOUR, swatch: Swatch::Line },
        LegendEntry {
            label: "bank's utility of the platform's offers".into(),
            colour: BANK_COLOUR,
            swatch: Swatch::Dashed,
        },
        LegendEntry { label: "reservation values".into(), colour: NEUTRAL_COLOUR, swatch: Swatch::Dotted },
    ];
    let legend_h = legend_height(&legend, WIDTH);
    let height = 330 + legend_h;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, plot) = root.split_vertically(legend_h);
        draw_legend(&top, &legend, WIDTH)?;
        let x_max = f64::from(d.rounds.max(1)) + 0.25;
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(10)
            .margin_right(30)
            .margin_bottom(6)
            .margin_top(30)
            .x_label_area_size(44)
            .y_label_area_size(58)
            .build_cartesian_2d(-0.25f64..x_max, 0f64..1.05f64)?;
        let rounds = d.rounds.max(1);
        let step = (rounds / 20).max(1);
        house_style(&mut chart.configure_mesh())
            .x_desc("round (the side that moves second in a round is drawn half a round later)")
            .y_desc("utility (0 = worst, 1 = best)")
            .x_labels((rounds / step + 2) as usize)
            .x_label_formatter(&|x| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() })
            .y_labels(6)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        for (reservation, colour) in [(d.reservation_platform, PLATFORM_COLOUR), (d.reservation_bank, BANK_COLOUR)] {
            chart.draw_series(DashedLineSeries::new(
                [(-0.25, reservation), (x_max, reservation)],
                2,
                4,
                colour.mix(0.6).stroke_width(1),
            ))?;
        }
        let series = |by_platform: bool, platform_utility: bool| -> Vec<(f64, f64)> {
            d.offers
                .iter()
                .filter(|o| o.by_platform == by_platform)
                .map(|o| (o.x, if platform_utility { o.utility_platform } else { o.utility_bank }))
                .collect()
        };
        for (by_platform, colour) in [(true, PLATFORM_COLOUR), (false, BANK_COLOUR)] {
            let own = series(by_platform, by_platform);
            let seen_by_other = series(!by_platform, by_platform);
            chart.draw_series(LineSeries::new(own.clone(), colour.stroke_width(2)))?;
            chart.draw_series(own.iter().map(|p| Circle::new(*p, 3, colour.filled())))?;
            chart.draw_series(DashedLineSeries::new(seen_by_other.clone(), 6, 4, colour.stroke_width(2)))?;
            chart.draw_series(seen_by_other.iter().map(|p| Circle::new(*p, 3, ShapeStyle::from(&WHITE).filled())))?;
            chart.draw_series(seen_by_other.iter().map(|p| Circle::new(*p, 3, colour.stroke_width(1))))?;
        }
        if let Some(end) = &d.end {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(end.x, 0.0), (end.x, 1.05)],
                end.colour.stroke_width(2),
            )))?;
            if let Some((up, ub)) = end.agreed {
                for (u, colour) in [(up, PLATFORM_COLOUR), (ub, BANK_COLOUR)] {
                    chart.draw_series(std::iter::once(Circle::new((end.x, u), 8, colour.stroke_width(3))))?;
                }
            }
            let (px, py) = chart.backend_coord(&(end.x, 1.05));
            let right_half = end.x > (x_max - 0.25) / 2.0;
            let anchor = if right_half { HPos::Right } else { HPos::Left };
            let dx = if right_half { -6 } else { 6 };
            plot.draw(&Text::new(
                end.label.clone(),
                (px + dx - plot.get_base_pixel().0, py - 6 - plot.get_base_pixel().1),
                text_style(14, end.colour).pos(Pos::new(anchor, VPos::Bottom)),
            ))?;
        }
        root.present()?;
    }
    Ok(finish(svg, &d.title))
}

/// Where a negotiation ended in the utility plane, drawn over its outcome space.
#[derive(Clone, Debug)]
pub struct PlaneEnd {
    /// (platform utility, bank utility) of the agreement, or of the last offer on the table.
    pub at: (f64, f64),
    pub label: String,
    pub colour: RGBColor,
    pub agreement: bool,
}

/// A negotiation's outcome space in the utility plane: x is the platform's utility, y the
/// bank's.
#[derive(Clone, Debug)]
pub struct Plane {
    pub title: String,
    /// Runs of cells of one row holding outcomes: the centres of the first and last cell, the
    /// row's bank utility, and whether they hold outcomes agreeable to both; each cell `cell`
    /// wide.
    pub runs: Vec<(f64, f64, f64, bool)>,
    pub cell: f64,
    /// The Pareto frontier of the agreeable outcomes, by platform utility ascending.
    pub frontier: Vec<(f64, f64)>,
    pub nash: Vec<(f64, f64)>,
    pub kalai_smorodinsky: Vec<(f64, f64)>,
    /// The disagreement point: each side's reservation value.
    pub reservation: (f64, f64),
    /// Each side's offers in the order made.
    pub platform_offers: Vec<(f64, f64)>,
    pub bank_offers: Vec<(f64, f64)>,
    pub end: Option<PlaneEnd>,
}

const NASH_COLOUR: RGBColor = PALETTE[6];
/// Cells of the outcome space, opaque so that neighbouring cells meet without a seam.
pub const CELL_OUTCOME: RGBColor = RGBColor(214, 214, 219);
pub const CELL_AGREEABLE: RGBColor = RGBColor(128, 128, 138);
const KS_COLOUR: RGBColor = PALETTE[4];

/// Grey cells hold outcomes (dark: agreeable to both), the black line is their Pareto frontier;
/// each side's offers are a path in its colour from its first offer to its last; dashed lines
/// are the reservation values, so the agreeable region is the box above and right of both.
pub fn plane_chart(d: &Plane) -> Result<String, ChartError> {
    let mut legend = vec![
        LegendEntry { label: "outcomes (dark: agreeable to both)".into(), colour: CELL_AGREEABLE, swatch: Swatch::Box },
        LegendEntry { label: "Pareto frontier".into(), colour: TEXT, swatch: Swatch::Line },
        LegendEntry { label: "Nash point".into(), colour: NASH_COLOUR, swatch: Swatch::Triangle },
        LegendEntry { label: "Kalai–Smorodinsky point".into(), colour: KS_COLOUR, swatch: Swatch::Cross },
        LegendEntry { label: "platform's offers".into(), colour: PLATFORM_COLOUR, swatch: Swatch::Line },
        LegendEntry { label: "bank's offers".into(), colour: BANK_COLOUR, swatch: Swatch::Line },
        LegendEntry { label: "reservation values".into(), colour: NEUTRAL_COLOUR, swatch: Swatch::Dashed },
    ];
    if let Some(end) = &d.end {
        let swatch = if end.agreement { Swatch::Ring } else { Swatch::Cross };
        let label = if end.agreement { "agreement" } else { "last offer on the table" };
        legend.push(LegendEntry { label: label.into(), colour: end.colour, swatch });
    }
    let every = (d.runs.iter().flat_map(|r| [(r.0, r.2), (r.1, r.2)]))
        .chain(d.platform_offers.iter().chain(&d.bank_offers).copied())
        .chain(std::iter::once(d.reservation));
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for (x, y) in every {
        lo = lo.min(x).min(y);
        hi = hi.max(x).max(y);
    }
    let pad = (hi - lo) * 0.03;
    let range = (lo - pad)..(hi + pad);
    let legend_h = legend_height(&legend, WIDTH);
    let height = 620 + legend_h;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, plot) = root.split_vertically(legend_h);
        draw_legend(&top, &legend, WIDTH)?;
        // Square axes, one unit of utility as long across as up: the plot is as wide as it is
        // high (620 less the top and bottom margins and the x labels), with room to the left.
        let (side, left) = (620 - 30 - 6 - 44, 150);
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(left)
            .margin_right(WIDTH - left - 58 - side)
            .margin_bottom(6)
            .margin_top(30)
            .x_label_area_size(44)
            .y_label_area_size(58)
            .build_cartesian_2d(range.clone(), range.clone())?;
        house_style(&mut chart.configure_mesh())
            .x_desc("platform's utility")
            .y_desc("bank's utility")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        // A hair over half a cell each way, so that neighbouring cells meet without a seam.
        let half = d.cell * 0.52;
        for &(from, to, y, agreeable) in &d.runs {
            let colour = if agreeable { CELL_AGREEABLE } else { CELL_OUTCOME };
            let corners = [(from - half, y - half), (to + half, y + half)];
            chart.draw_series(std::iter::once(Rectangle::new(corners, colour.filled())))?;
        }
        let (rp, rb) = d.reservation;
        let dashed = |from: (f64, f64), to: (f64, f64), colour: RGBColor| {
            DashedLineSeries::new([from, to], 6, 4, colour.mix(0.7).stroke_width(1))
        };
        chart.draw_series(dashed((rp, range.start), (rp, range.end), PLATFORM_COLOUR))?;
        chart.draw_series(dashed((range.start, rb), (range.end, rb), BANK_COLOUR))?;
        chart.draw_series(LineSeries::new(d.frontier.iter().copied(), TEXT.stroke_width(2)))?;
        for (offers, colour) in [(&d.platform_offers, PLATFORM_COLOUR), (&d.bank_offers, BANK_COLOUR)] {
            chart.draw_series(LineSeries::new(offers.iter().copied(), colour.mix(0.8).stroke_width(2)))?;
            chart.draw_series(offers.iter().map(|p| Circle::new(*p, 3, colour.filled())))?;
        }
        chart.draw_series(d.nash.iter().map(|p| TriangleMarker::new(*p, 9, NASH_COLOUR.filled())))?;
        chart.draw_series(d.kalai_smorodinsky.iter().map(|p| Cross::new(*p, 7, KS_COLOUR.stroke_width(3))))?;
        if let Some(end) = &d.end {
            if end.agreement {
                chart.draw_series(std::iter::once(Circle::new(end.at, 9, end.colour.stroke_width(3))))?;
            } else {
                chart.draw_series(std::iter::once(Cross::new(end.at, 9, end.colour.stroke_width(3))))?;
            }
            let (px, py) = chart.backend_coord(&end.at);
            let (base_x, base_y) = plot.get_base_pixel();
            let right_half = end.at.0 > (range.start + range.end) / 2.0;
            let (anchor, dx) = if right_half { (HPos::Right, -14) } else { (HPos::Left, 14) };
            plot.draw(&Text::new(
                end.label.clone(),
                (px + dx - base_x, py - 14 - base_y),
                text_style(14, end.colour).pos(Pos::new(anchor, VPos::Bottom)),
            ))?;
        }
        root.present()?;
    }
    Ok(finish(svg, &d.title))
}

/// One series of a bar chart: one value per group.
#[derive(Clone, Debug)]
pub struct BarSeries {
    pub name: String,
    pub colour: RGBColor,
    pub values: Vec<f64>,
}

/// Horizontal grouped bars: one band per group (labels on the left, where long names fit),
/// one bar per series in each band, the value written at the end of each bar.
#[derive(Clone, Debug)]
pub struct Bars {
    pub title: String,
    /// What the values are, with their unit: `field values disclosed`, `latency (ms)`.
    pub value_desc: String,
    pub groups: Vec<String>,
    pub series: Vec<BarSeries>,
    /// Written after each bar's value, e.g. ` ms`.
    pub unit: String,
}

/// The frame the bar and lane charts share: a legend on top, one row per subject down the left
/// (labelled with `row_label`), the value axis along the bottom; `draw` fills the rows.
struct RowFrame<'a> {
    legend: &'a [LegendEntry],
    rows: &'a [String],
    /// Height of one row; room above the rows, and the part of it inside the plot.
    row_px: u32,
    top_px: u32,
    margin_top: u32,
    x_max: f64,
    x_desc: &'a str,
    x_labels: usize,
}

type RowChart<'s> = ChartContext<'s, SVGBackend<'s>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Area<'s> = DrawingArea<SVGBackend<'s>, Shift>;

impl RowFrame<'_> {
    fn render(
        &self,
        title: &str,
        draw: impl FnOnce(&mut RowChart<'_>, &Area<'_>) -> Result<(), ChartError>,
    ) -> Result<String, ChartError> {
        let legend_h = legend_height(self.legend, WIDTH);
        let height = legend_h + self.top_px + self.row_px * self.rows.len().max(1) as u32 + 60;
        let label_px = 20 + CHAR_PX * self.rows.iter().map(|g| g.chars().count() as u32).max().unwrap_or(4);
        let label_px = label_px.min(WIDTH / 3);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            root.fill(&WHITE)?;
            let (top, plot) = root.split_vertically(legend_h);
            draw_legend(&top, self.legend, WIDTH)?;
            let mut chart = ChartBuilder::on(&plot)
                .margin_left(label_px)
                .margin_right(30)
                .margin_top(self.margin_top)
                .x_label_area_size(44)
                .y_label_area_size(4)
                .build_cartesian_2d(0f64..self.x_max, 0f64..self.rows.len().max(1) as f64)?;
            let fmt = |v: &f64| short_number(*v);
            house_style(&mut chart.configure_mesh())
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(self.x_labels)
                .x_label_formatter(&fmt)
                .x_desc(self.x_desc)
                .draw()?;
            draw(&mut chart, &plot)?;
            root.present()?;
        }
        Ok(finish(svg, title))
    }

    /// The middle of row `i` on the chart's y axis (rows run top to bottom in the given order).
    fn centre(&self, i: usize) -> f64 {
        self.rows.len().max(1) as f64 - i as f64 - 0.5
    }

    /// Writes row `i`'s label left of the axis.
    fn row_label(&self, chart: &RowChart<'_>, plot: &Area<'_>, i: usize) -> Result<(), ChartError> {
        let (base_x, base_y) = plot.get_base_pixel();
        let (px, py) = chart.backend_coord(&(0.0, self.centre(i)));
        plot.draw(&Text::new(
            self.rows[i].clone(),
            (px - 8 - base_x, py - base_y),
            text_style(14, TEXT).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        Ok(())
    }
}

pub fn bar_chart(d: &Bars) -> Result<String, ChartError> {
    let legend: Vec<LegendEntry> =
        d.series.iter().map(|s| LegendEntry { label: s.name.clone(), colour: s.colour, swatch: Swatch::Box }).collect();
    let max = d.series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0f64, f64::max);
    let frame = RowFrame {
        legend: &legend,
        rows: &d.groups,
        row_px: 16 * d.series.len().max(1) as u32 + 16,
        top_px: 40,
        margin_top: 14,
        x_max: if max > 0.0 { max * 1.15 } else { 1.0 },
        x_desc: &d.value_desc,
        x_labels: 8,
    };
    frame.render(&d.title, |chart, plot| {
        let n = d.series.len().max(1) as f64;
        let (base_x, base_y) = plot.get_base_pixel();
        for g in 0..d.groups.len() {
            let band_top = frame.centre(g) + 0.5;
            let inner = 0.8 / n;
            for (s, series) in d.series.iter().enumerate() {
                let v = series.values.get(g).copied().unwrap_or(0.0);
                let y1 = band_top - 0.1 - inner * s as f64;
                let y0 = y1 - inner * 0.9;
                chart.draw_series(std::iter::once(Rectangle::new([(0.0, y0), (v, y1)], series.colour.filled())))?;
                let (px, py) = chart.backend_coord(&(v, (y0 + y1) / 2.0));
                plot.draw(&Text::new(
                    format!("{}{}", short_number(v), d.unit),
                    (px + 4 - base_x, py - base_y),
                    text_style(12, TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
            }
            frame.row_label(chart, plot, g)?;
        }
        Ok(())
    })
}

/// Something that lasted, on a lane of the timeline.
#[derive(Clone, Debug)]
pub struct Span {
    pub lane: usize,
    pub from: f64,
    pub to: f64,
    pub colour: RGBColor,
    /// Thick bars sit in the middle of a lane, thin ones below them.
    pub thick: bool,
}

/// Something that happened at one moment, on a lane.
#[derive(Clone, Debug)]
pub struct Mark {
    pub lane: usize,
    pub at: f64,
    pub colour: RGBColor,
}

/// Swimlanes over time: one lane per subject, spans for what lasted, marks for moments.
#[derive(Clone, Debug)]
pub struct Lanes {
    pub title: String,
    pub x_desc: String,
    pub x_max: f64,
    pub lanes: Vec<String>,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
    pub legend: Vec<LegendEntry>,
}

pub fn lanes_chart(d: &Lanes) -> Result<String, ChartError> {
    let x_max = if d.x_max > 0.0 { d.x_max } else { 1.0 };
    let frame = RowFrame {
        legend: &d.legend,
        rows: &d.lanes,
        row_px: 34,
        top_px: 30,
        margin_top: 10,
        x_max,
        x_desc: &d.x_desc,
        x_labels: 12,
    };
    frame.render(&d.title, |chart, plot| {
        for i in 0..d.lanes.len() {
            let c = frame.centre(i);
            chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, c), (x_max, c)], GRID.stroke_width(1))))?;
            frame.row_label(chart, plot, i)?;
        }
        for s in &d.spans {
            let c = frame.centre(s.lane);
            let (y0, y1) = if s.thick { (c - 0.16, c + 0.16) } else { (c - 0.3, c - 0.22) };
            let to = s.to.max(s.from + x_max / 400.0);
            chart
                .draw_series(std::iter::once(Rectangle::new([(s.from, y0), (to, y1)], s.colour.mix(0.85).filled())))?;
        }
        for m in &d.marks {
            let p = (m.at, frame.centre(m.lane));
            chart.draw_series(std::iter::once(Circle::new(p, 7, ShapeStyle::from(&WHITE).filled())))?;
            chart.draw_series(std::iter::once(Circle::new(p, 6, m.colour.filled())))?;
        }
        Ok(())
    })
}
