// A small trend line for the overview's cards.
import { useId } from "react";

export interface SparklineProps {
  /** Samples, oldest first. */
  values: number[];
  /** Fixed bounds (e.g. 0..100 for percentages); otherwise the data range, padded. */
  min?: number;
  max?: number;
  /** Accessible name, e.g. "CPU usage". */
  label: string;
  /** Unit appended to the value in the accessible description. */
  unit?: string;
  height?: number;
  tone?: "accent" | "ok" | "warn" | "bad";
}

const WIDTH = 120;

/** A tiny SVG trend line: area + line + the latest point. No chart library. */
export function Sparkline({ values, min, max, label, unit = "", height = 36, tone = "accent" }: SparklineProps) {
  const gradientId = useId();
  const points = values.slice(-60);
  const last = points[points.length - 1];
  const description =
    last === undefined
      ? `${label}: no data yet`
      : `${label}: ${points.length} samples, latest ${Math.round(last * 10) / 10}${unit}`;

  if (points.length < 2) {
    return (
      <div className={`sparkline-wrap tone-${tone} is-empty`}>
        <svg className="sparkline" viewBox={`0 0 ${WIDTH} ${height}`} preserveAspectRatio="none" role="img" aria-label={description}>
          <line x1="0" x2={WIDTH} y1={height - 2} y2={height - 2} className="sparkline-baseline" vectorEffect="non-scaling-stroke" />
        </svg>
      </div>
    );
  }

  const dataMin = Math.min(...points);
  const dataMax = Math.max(...points);
  let lo = min ?? dataMin;
  let hi = max ?? dataMax;
  if (min === undefined && max === undefined) {
    const pad = (dataMax - dataMin) * 0.15 || Math.max(1, Math.abs(dataMax) * 0.1);
    lo = Math.max(0, dataMin - pad);
    hi = dataMax + pad;
  } else if (max === undefined) {
    hi = Math.max(dataMax * 1.15, lo + 1);
  }
  const span = hi - lo || 1;
  const top = 3;
  const bottom = height - 2;
  const step = WIDTH / (points.length - 1);
  const coords = points.map((v, i) => {
    const clamped = Math.min(hi, Math.max(lo, v));
    return [i * step, bottom - ((clamped - lo) / span) * (bottom - top)] as const;
  });
  const line = coords.map(([x, y], i) => `${i === 0 ? "M" : "L"}${x.toFixed(2)},${y.toFixed(2)}`).join(" ");
  const area = `${line} L${WIDTH},${height} L0,${height} Z`;
  const lastPoint = coords[coords.length - 1];

  return (
    <div className={`sparkline-wrap tone-${tone}`}>
      <svg className="sparkline" viewBox={`0 0 ${WIDTH} ${height}`} preserveAspectRatio="none" role="img" aria-label={description}>
        <defs>
          <linearGradient id={gradientId} x1="0" x2="0" y1="0" y2="1">
            <stop offset="0%" stopColor="currentColor" stopOpacity="0.28" />
            <stop offset="100%" stopColor="currentColor" stopOpacity="0" />
          </linearGradient>
        </defs>
        <path d={area} fill={`url(#${gradientId})`} stroke="none" />
        <path d={line} fill="none" stroke="currentColor" strokeWidth="1.6" vectorEffect="non-scaling-stroke" strokeLinejoin="round" />
      </svg>
      {lastPoint && (
        <span
          className="sparkline-dot"
          aria-hidden="true"
          style={{ left: `${(lastPoint[0] / WIDTH) * 100}%`, top: `${(lastPoint[1] / height) * 100}%` }}
        />
      )}
    </div>
  );
}
