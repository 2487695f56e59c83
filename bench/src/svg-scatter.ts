export interface ScatterPoint {
  x: number;
  y: number;
  /** Short text next to the point (the knob value); the series is told by colour and legend. */
  label: string;
  /** Points of one series share a colour and are joined by a line in x order. */
  series: string;
}

export interface ScatterOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Lines under the legend, e.g. what the point labels mean. */
  notes?: string[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const WIDTH = 760;
const HEIGHT = 500;
const MARGIN = { left: 70, right: 190, top: 44, bottom: 62 };
const FONT_SIZE = 11;
// sans-serif digits and lower case at 11 px are about 6.2 px wide; labels are short, so a
// per-character estimate places them well enough without measuring text.
const CHAR_WIDTH = 6.3;
const POINT_RADIUS = 5;

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function overlaps(a: Box, b: Box): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/** 1, 2, 5 times each power of ten inside [min, max]. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let exponent = Math.floor(Math.log10(min)); exponent <= Math.ceil(Math.log10(max)); exponent++) {
    for (const mantissa of [1, 2, 5]) {
      const tick = mantissa * 10 ** exponent;
      if (tick >= min && tick <= max) ticks.push(tick);
    }
  }
  return ticks;
}

function tickText(value: number): string {
  return value >= 1 ? String(value) : value.toPrecision(1);
}

/**
 * A self-contained SVG scatter plot with a log x axis, one line per series, a legend, and point
 * labels placed where they overlap no other label and no point; no plotting library.
 */
export function svgScatter(points: ScatterPoint[], options: ScatterOptions): string {
  const plot: Box = { left: MARGIN.left, top: MARGIN.top, right: WIDTH - MARGIN.right, bottom: HEIGHT - MARGIN.bottom };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  // Pad the x range by a quarter decade on each side so end points keep room for their labels.
  const logMin = Math.log10(Math.min(...xs)) - 0.25;
  const logMax = Math.log10(Math.max(...xs)) + 0.25;
  const yStep = 0.01;
  const yMin = Math.floor((Math.min(...ys) - yStep) / yStep) * yStep;
  const yMax = Math.ceil((Math.max(...ys) + yStep) / yStep) * yStep;
  const px = (x: number) => plot.left + ((Math.log10(x) - logMin) / (logMax - logMin)) * (plot.right - plot.left);
  const py = (y: number) => plot.bottom - ((y - yMin) / (yMax - yMin)) * (plot.bottom - plot.top);
  const seriesNames = [...new Set(points.map((p) => p.series))];
  const colour = (series: string) => PALETTE[seriesNames.indexOf(series) % PALETTE.length]!;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
      `font-family="sans-serif" font-size="${FONT_SIZE}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
  ];
  for (let y = yMin; y <= yMax + yStep / 2; y += yStep) {
    parts.push(`<line x1="${plot.left}" y1="${py(y)}" x2="${plot.right}" y2="${py(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${plot.left - 8}" y="${py(y) + 4}" text-anchor="end">${(y * 100).toFixed(0)}%</text>`);
  }
  for (const tick of logTicks(10 ** logMin, 10 ** logMax)) {
    parts.push(`<line x1="${px(tick)}" y1="${plot.top}" x2="${px(tick)}" y2="${plot.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${px(tick)}" y="${plot.bottom + 16}" text-anchor="middle">${tickText(tick)}</text>`);
  }
  parts.push(
    `<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="black"/>`,
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="black"/>`,
    `<text x="${(plot.left + plot.right) / 2}" y="${HEIGHT - 22}" text-anchor="middle">` +
      `${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(20 ${(plot.top + plot.bottom) / 2}) rotate(-90)" text-anchor="middle">` +
      `${escapeXml(options.yLabel)}</text>`,
  );

  for (const series of seriesNames) {
    const line = points.filter((p) => p.series === series).sort((a, b) => a.x - b.x);
    const path = line.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    const stroke = `stroke="${colour(series)}" stroke-opacity="0.45" stroke-width="1.5"`;
    parts.push(`<polyline points="${path}" fill="none" ${stroke}/>`);
  }

  const taken: Box[] = points.map((p) => ({
    left: px(p.x) - POINT_RADIUS - 1,
    top: py(p.y) - POINT_RADIUS - 1,
    right: px(p.x) + POINT_RADIUS + 1,
    bottom: py(p.y) + POINT_RADIUS + 1,
  }));
  for (const point of points) {
    parts.push(`<circle cx="${px(point.x)}" cy="${py(point.y)}" r="${POINT_RADIUS}" fill="${colour(point.series)}"/>`);
  }
  for (const point of points) {
    parts.push(...placeLabel(point, px(point.x), py(point.y), colour(point.series), taken, plot));
  }

  seriesNames.forEach((series, i) => {
    const y = plot.top + 12 + i * 20;
    parts.push(`<circle cx="${plot.right + 24}" cy="${y}" r="${POINT_RADIUS}" fill="${colour(series)}"/>`);
    parts.push(`<text x="${plot.right + 36}" y="${y + 4}">${escapeXml(series)}</text>`);
  });
  (options.notes ?? []).forEach((note, i) => {
    const y = plot.top + 12 + seriesNames.length * 20 + 10 + i * 16;
    parts.push(`<text x="${plot.right + 18}" y="${y}" fill="#555">${escapeXml(note)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * Tries positions around the point, nearest first, and then further out with a leader line;
 * takes the first whose box is inside the plot and clear of every label and point placed so far.
 */
function placeLabel(point: ScatterPoint, cx: number, cy: number, colour: string, taken: Box[], plot: Box): string[] {
  const width = point.label.length * CHAR_WIDTH;
  const height = FONT_SIZE;
  const gap = POINT_RADIUS + 3;
  const directions: [number, number][] = [
    [1, 0],
    [-1, 0],
    [0, -1],
    [0, 1],
    [1, -1],
    [-1, -1],
    [1, 1],
    [-1, 1],
  ];
  for (const distance of [gap, gap + 12, gap + 24, gap + 38]) {
    for (const [dx, dy] of directions) {
      // Box centre `distance` away from the point in this direction, box edge toward the point.
      const centreX = cx + dx * (distance + width / 2);
      const centreY = cy + dy * (distance + height / 2);
      const box: Box = {
        left: centreX - width / 2,
        top: centreY - height / 2,
        right: centreX + width / 2,
        bottom: centreY + height / 2,
      };
      const inside =
        box.left >= plot.left + 2 && box.right <= plot.right - 2 && box.top >= plot.top && box.bottom <= plot.bottom;
      if (!inside || taken.some((other) => overlaps(box, other))) continue;
      taken.push(box);
      const baseline = centreY + height * 0.35;
      const text =
        `<text x="${centreX.toFixed(1)}" y="${baseline.toFixed(1)}" text-anchor="middle" fill="#333">` +
        `${escapeXml(point.label)}</text>`;
      if (distance === gap) return [text];
      const leaderEndX = Math.min(Math.max(cx, box.left), box.right);
      const leaderEndY = Math.min(Math.max(cy, box.top), box.bottom);
      // Start the leader at the circle's edge so it does not cross the point.
      const length = Math.hypot(leaderEndX - cx, leaderEndY - cy) || 1;
      const startX = cx + ((leaderEndX - cx) / length) * POINT_RADIUS;
      const startY = cy + ((leaderEndY - cy) / length) * POINT_RADIUS;
      const leader =
        `<line x1="${startX.toFixed(1)}" y1="${startY.toFixed(1)}" x2="${leaderEndX.toFixed(1)}" ` +
        `y2="${leaderEndY.toFixed(1)}" stroke="${colour}" stroke-opacity="0.6"/>`;
      return [leader, text];
    }
  }
  // Nowhere free: the legend and line still identify the point, so leave it unlabelled.
  return [];
}
