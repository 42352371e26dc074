/** Events per second over the last minute: 60 one-second buckets, so a figure costs no timer. */
export class MinuteRate {
  private readonly buckets = new Float64Array(60);
  private readonly stamps = new Float64Array(60).fill(-1);

  constructor(private readonly now: () => number = Date.now) {}

  add(n = 1): void {
    const second = Math.floor(this.now() / 1000);
    const i = second % 60;
    if (this.stamps[i] !== second) {
      this.stamps[i] = second;
      this.buckets[i] = 0;
    }
    this.buckets[i]! += n;
  }

  /** Mean per second over the 60 s before now (the current, partial second excluded). */
  perSecond(): number {
    const second = Math.floor(this.now() / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) {
      const s = this.stamps[i]!;
      if (s < second && s >= second - 60) sum += this.buckets[i]!;
    }
    return sum / 60;
  }
}
