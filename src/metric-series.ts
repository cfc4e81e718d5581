import type { Registry } from 'prom-client'

type LabelValue = string | number

/** A histogram's one label set: observing costs a bucket search and three additions. */
export interface HistogramSeries {
  observe (value: number): void
}

/** A counter's one label set. */
export interface CounterSeries {
  inc (by?: number): void
}

interface Options<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  registers: Registry[]
}

interface ExportedValue {
  labels: Record<string, LabelValue>
  /** A series' own labels, written after `labels` (prom-client's form for histograms: `le` first). */
  sharedLabels?: Record<string, LabelValue>
  value: number
  metricName?: string
}

interface Exported { name: string, help: string, type: string, values: ExportedValue[], aggregator: string }

/**
 * Label sets found by walking one Map per label value, so a request's series is found without building a key: no
 * label object, no validation, no hashing of the labels per observation (what prom-client does on every `observe` and
 * `inc`; bench/README.md, "Where the rest goes"). The values are exposed through prom-client's registry, in the
 * text prom-client's own Histogram and Counter write (test/metric-series.test.ts compares them).
 */
abstract class LabelledMetric<L extends string, S> {
  readonly name: string
  readonly help: string
  readonly aggregator = 'sum'
  protected readonly labelNames: readonly L[]
  protected readonly created: Array<{ labels: Record<string, LabelValue>, series: S }> = []
  #root = new Map<LabelValue, unknown>()

  constructor (options: Options<L>) {
    this.name = options.name
    this.help = options.help
    this.labelNames = options.labelNames
    for (const registry of options.registers) registry.registerMetric(this as never)
  }

  protected abstract createSeries (): S

  /** The series of these label values, given in `labelNames` order; created (at zero) on first use. */
  series (values: readonly LabelValue[]): S {
    if (values.length !== this.labelNames.length) throw new TypeError(`${this.name}: ${this.labelNames.length} label values expected, got ${values.length}`)
    let level = this.#root
    const last = values.length - 1
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i] as LabelValue) as Map<LabelValue, unknown> | undefined
      if (next === undefined) {
        next = new Map()
        level.set(values[i] as LabelValue, next)
      }
      level = next
    }
    // A metric without labels keeps its one series under the key `undefined`.
    const key = values[last] as LabelValue
    let series = level.get(key) as S | undefined
    if (series === undefined) {
      series = this.createSeries()
      level.set(key, series)
      const labels: Record<string, LabelValue> = {}
      this.labelNames.forEach((name, i) => { labels[name] = values[i] as LabelValue })
      this.created.push({ labels, series })
    }
    return series
  }

  reset (): void {
    this.#root = new Map()
    this.created.length = 0
  }

  /** What the registry writes as text. */
  abstract getForPromString (): Promise<Exported>

  /** The registry's JSON form: each value with all of its labels. */
  async get (): Promise<Exported> {
    const exported = await this.getForPromString()
    return { ...exported, values: exported.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...sharedLabels, ...labels } })) }
  }
}

export class LabelledHistogram<L extends string> extends LabelledMetric<L, HistogramSeries & { sum: number, count: number, buckets: number[] }> {
  readonly type = 'histogram'
  readonly #upperBounds: number[]

  constructor (options: Options<L> & { buckets: readonly number[] }) {
    super(options)
    this.#upperBounds = [...options.buckets].sort((a, b) => a - b)
  }

  protected createSeries (): HistogramSeries & { sum: number, count: number, buckets: number[] } {
    const bounds = this.#upperBounds
    const series = {
      sum: 0,
      count: 0,
      // Per bucket, not cumulative; the last one is +Inf.
      buckets: new Array<number>(bounds.length + 1).fill(0),
      observe (value: number): void {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
        let i = 0
        while (i < bounds.length && value > (bounds[i] as number)) i++
        series.buckets[i] = (series.buckets[i] as number) + 1
        series.sum += value
        series.count += 1
      },
    }
    return series
  }

  async getForPromString (): Promise<Exported> {
    const values: ExportedValue[] = []
    const bounds = this.#upperBounds
    for (const { labels, series } of this.created) {
      let cumulative = 0
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += series.buckets[i] as number
        values.push({ labels: { le: i < bounds.length ? (bounds[i] as number) : '+Inf' }, sharedLabels: labels, value: cumulative, metricName: `${this.name}_bucket` })
      }
      values.push({ labels: {}, sharedLabels: labels, value: series.sum, metricName: `${this.name}_sum` })
      values.push({ labels: {}, sharedLabels: labels, value: series.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}

export class LabelledCounter<L extends string> extends LabelledMetric<L, CounterSeries & { value: number }> {
  readonly type = 'counter'

  protected createSeries (): CounterSeries & { value: number } {
    const series = {
      value: 0,
      inc (by = 1): void {
        if (!(by >= 0) || !Number.isFinite(by)) throw new Error('It is not possible to decrease a counter')
        series.value += by
      },
    }
    return series
  }

  async getForPromString (): Promise<Exported> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.created.map(({ labels, series }) => ({ labels, value: series.value })),
      aggregator: this.aggregator,
    }
  }
}
