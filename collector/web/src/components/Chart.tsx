// One time-series chart drawn by uPlot (canvas; ~50 KB, fast on thousands of points). The plot is built once
// per set of series and then only fed new data, so a live refetch does not rebuild the DOM.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

// Distinct on both the light and the dark theme.
export const PALETTE = ['#2563eb', '#16a34a', '#dc2626', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#64748b'];

const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8, 1e9];

export interface ChartSeries {
  label: string;
  color?: string;
  dash?: number[];
}

export function Chart({
  title,
  xs,
  ys,
  series,
  format,
  height = 200,
  integer = false,
  testId,
}: {
  title: string;
  xs: number[];
  ys: (number | null)[][];
  series: ChartSeries[];
  format: (v: number) => string;
  height?: number;
  integer?: boolean; // counts: ticks only at whole numbers
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const fmt = useRef(format);
  fmt.current = format;
  const shape = series.map((s) => `${s.label}|${s.color ?? ''}`).join('\n');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const muted = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#5f6b7a';
    const grid = getComputedStyle(document.documentElement).getPropertyValue('--border').trim() || '#dde1e6';
    const axis = (values?: uPlot.Axis['values']): uPlot.Axis => ({
      stroke: muted,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      ...(values ? { values } : {}),
    });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? PALETTE[i % PALETTE.length],
          width: 1.5,
          dash: s.dash,
          spanGaps: false,
          points: { size: 4 },
          value: (_u: uPlot, v: number | null) => (v == null ? '—' : fmt.current(v)),
        })),
      ],
      axes: [
        axis(),
        {
          ...axis((_u, vals) => vals.map((v) => fmt.current(v))),
          size: 70,
          ...(integer ? { incrs: INTEGER_STEPS } : {}),
        },
      ],
      // From 0 (bars of counts and money read from zero); an all-zero chart still gets an axis of 0..1.
      scales: { y: { range: (_u, min, max) => [Math.min(0, min ?? 0), max != null && max > 0 ? max * 1.1 : 1] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, [xs, ...ys] as uPlot.AlignedData, el);
    plot.current = u;
    const ro =
      typeof ResizeObserver !== 'undefined'
        ? new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }))
        : null;
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data goes through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height, integer]);

  useEffect(() => {
    plot.current?.setData([xs, ...ys] as uPlot.AlignedData);
  }, [xs, ys]);

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="chart-title">{title}</figcaption>
      <div ref={box} className="chart-box" />
    </figure>
  );
}
