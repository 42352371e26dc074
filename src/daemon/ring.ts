/**
 * The last `capacity` items, oldest first: a ring, so keeping one more costs the same however full
 * it is (Array.prototype.shift on a full 8,192-entry array moved every entry, per connect). Used by
 * the replay buffers of /v1/connects (connect-stream.ts) and /v1/audit (audit-replay.ts).
 */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array<T | undefined>(Math.max(1, capacity));
  }

  /** Keeps `item`; returns the oldest item it pushed out when the ring was full. */
  push(item: T): T | undefined {
    if (this.capacity <= 0) return item;
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count++;
      return undefined;
    }
    const evicted = this.items[this.start];
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    return evicted;
  }

  get length(): number {
    return this.count;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.start + i) % this.capacity] as T;
  }
}
