//! `hpo results plot --kind parallel|importance` against the `hpo` binary: a command
//! objective whose value depends on `x` alone, the SVG parsed back (one line per trial
//! coloured by its value, one bar per parameter, the parameter that matters tallest).

mod common;

use common::{Home, plot, run_json, stderr, xy_space};

/// The `<tag>` lines of `svg` whose `attribute` is not `except`.
fn elements<'s>(svg: &'s str, tag: &str, attribute: &str, except: &str) -> Vec<&'s str> {
    let (open, skip) = (format!("<{tag} "), format!("{attribute}=\"{except}\""));
    svg.lines()
        .filter(|l| l.starts_with(&open) && !l.contains(&skip))
        .collect()
}

/// The number after `name="` in an SVG element.
fn number(element: &str, name: &str) -> f64 {
    let start = element.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = start + element[start..].find('"').unwrap();
    element[start..end].parse().unwrap()
}

#[test]
fn parallel_coordinates_and_importance_show_the_parameter_that_matters() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("f.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nawk -v x=\"$1\" 'BEGIN{printf \"{\\\"value\\\": %.9f}\\n\", 100 * (x-0.3)^2 - 50}'\n",
    )
    .unwrap();
    let objective = format!("cmd:sh {} {{x}} {{y}}", script.display());
    let space = xy_space(dir.path());
    let out = dir.path().join("out");
    let args = [
        "-m",
        "RANDOM",
        "--objective",
        &objective,
        "--space",
        space.to_str().unwrap(),
        "--evals",
        "40",
    ];
    run_json(&home, &out, &args);
    // One coloured line per trial across the two axes, which are named; the best trial's
    // line (drawn last) is blue, the worst's (drawn first) red.
    let svg = plot(&home, &out, "parallel");
    let lines = elements(&svg, "polyline", "stroke", "#000000");
    assert_eq!(lines.len(), 40);
    let texts: Vec<&str> = svg.lines().map(str::trim).collect();
    assert!(
        texts.contains(&"x") && texts.contains(&"y"),
        "axes unnamed: {svg}"
    );
    let colour = |line: &str| {
        let at = line.find("stroke=\"#").unwrap() + 9;
        let hex = &line[at..at + 6];
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
        (channel(0), channel(2), channel(4))
    };
    let (r, _, b) = colour(lines[39]);
    assert!(b > r, "best line {:?}", colour(lines[39]));
    let (r, _, b) = colour(lines[0]);
    assert!(r > b, "worst line {:?}", colour(lines[0]));
    // One bar per parameter, x's far taller than y's (which only chance explains).
    let svg = plot(&home, &out, "importance");
    let bars = elements(&svg, "rect", "fill", "#FFFFFF");
    assert_eq!(bars.len(), 2, "{svg}");
    let (x, y) = (number(bars[0], "height"), number(bars[1], "height"));
    assert!(x > 5.0 * y.max(1.0), "x {x} y {y}");
    // As PNG: the same plot rasterized, its title drawn in a system font.
    let png = dir.path().join("importance.png");
    let (o, p) = (out.to_str().unwrap(), png.to_str().unwrap());
    let made = home.hpo(&[
        "results",
        "--out",
        o,
        "plot",
        "1",
        "--kind",
        "importance",
        "--output",
        p,
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let image = resvg::tiny_skia::Pixmap::load_png(&png).unwrap();
    assert_eq!((image.width(), image.height()), (900, 560));
    let dark = |y0: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (0..900).map(move |x| (x, y)))
            .filter(|&(x, y)| image.pixel(x, y).is_some_and(|p| p.red() < 100))
            .count()
    };
    assert!(dark(0, 40) > 100, "the title is drawn");
    // An unknown kind is refused, naming the kinds.
    let o = out.to_str().unwrap();
    let bad = home.hpo(&["results", "--out", o, "plot", "1", "--kind", "pie"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("parallel or importance"),
        "{}",
        stderr(&bad)
    );
}
