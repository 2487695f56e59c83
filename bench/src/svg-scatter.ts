export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
  /** Points of one series share a colour. */
  series: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** A self-contained SVG scatter plot with labelled points and a legend; no plotting library. */
export function svgScatter(points: ScatterPoint[], options: { title: string; xLabel: string; yLabel: string }): string {
  const width = 720;
  const height = 480;
  const margin = { left: 70, right: 170, top: 40, bottom: 60 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const xMax = Math.max(...xs, 0) * 1.08 || 1;
  const yMin = Math.max(0, Math.min(...ys) - 0.05);
  const yMax = Math.min(1, Math.max(...ys) + 0.05);
  const px = (x: number) => margin.left + (x / xMax) * (width - margin.left - margin.right);
  const py = (y: number) => height - margin.bottom - ((y - yMin) / (yMax - yMin || 1)) * (height - margin.top - margin.bottom);
  const seriesNames = [...new Set(points.map((p) => p.series))];
  const colour = (series: string) => PALETTE[seriesNames.indexOf(series) % PALETTE.length]!;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
    `<line x1="${margin.left}" y1="${height - margin.bottom}" x2="${width - margin.right}" y2="${height - margin.bottom}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${height - margin.bottom}" stroke="black"/>`,
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 18}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(18 ${(margin.top + height - margin.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const x = (xMax * i) / 5;
    const y = yMin + ((yMax - yMin) * i) / 5;
    parts.push(`<text x="${px(x)}" y="${height - margin.bottom + 16}" text-anchor="middle">${x.toFixed(2)}</text>`);
    parts.push(`<text x="${margin.left - 8}" y="${py(y) + 4}" text-anchor="end">${(y * 100).toFixed(0)}%</text>`);
    parts.push(`<line x1="${margin.left}" y1="${py(y)}" x2="${width - margin.right}" y2="${py(y)}" stroke="#eee"/>`);
  }
  for (const point of points) {
    parts.push(`<circle cx="${px(point.x)}" cy="${py(point.y)}" r="5" fill="${colour(point.series)}"/>`);
    parts.push(`<text x="${px(point.x) + 7}" y="${py(point.y) - 6}" fill="#333">${escapeXml(point.label)}</text>`);
  }
  seriesNames.forEach((series, i) => {
    const y = margin.top + 10 + i * 18;
    parts.push(`<circle cx="${width - margin.right + 20}" cy="${y}" r="5" fill="${colour(series)}"/>`);
    parts.push(`<text x="${width - margin.right + 30}" y="${y + 4}">${escapeXml(series)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
