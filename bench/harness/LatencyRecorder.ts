import { round } from './round';

/**
 * Records latency samples (ms) and answers percentiles: the one recorder of every benchmark and of bench/probe.ts.
 * Keeps every sample (8 bytes each): a benchmark phase here records tens of thousands, so exact percentiles cost
 * less than a histogram's bucketing error would explain.
 */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private n = 0;
  private sorted = true;

  record(ms: number): void {
    if (this.n === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.n++] = ms;
    this.sorted = false;
  }

  get count(): number {
    return this.n;
  }

  /** The smallest sample such that at least `p` percent of the samples are <= it (nearest rank). NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const view = this.sortedView();
    const rank = Math.min(this.n, Math.max(1, Math.ceil((p / 100) * this.n)));
    return view[rank - 1];
  }

  get max(): number {
    return this.n ? this.sortedView()[this.n - 1] : NaN;
  }

  get mean(): number {
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += this.samples[i];
    return this.n ? sum / this.n : NaN;
  }

  /** The figures a result line reports for a window (ms, rounded to 2 decimals; null when empty). */
  summary(): { n: number; p50_ms: number | null; p99_ms: number | null; p999_ms: number | null; max_ms: number | null } {
    return {
      n: this.n,
      p50_ms: round(this.percentile(50)),
      p99_ms: round(this.percentile(99)),
      p999_ms: round(this.percentile(99.9)),
      max_ms: round(this.max),
    };
  }

  private sortedView(): Float64Array {
    const view = this.samples.subarray(0, this.n);
    if (!this.sorted) {
      view.sort();
      this.sorted = true;
    }
    return view;
  }
}
