/**
 * The part of autocannon 8's programmatic API that the benchmarks use, because
 * the package ships no type declarations.
 */
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      duration?: number;
      pipelining?: number;
      /** Seconds to wait for one response before counting a timeout. */
      timeout?: number;
      /** Counts a response whose body fails this check as a mismatch. */
      verifyBody?: (body: string) => boolean;
    }

    /** Statistics of a histogram, where `p99` is the 99th percentile. */
    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p97_5: number;
      p99: number;
    }

    interface Result {
      url: string;
      /** Latency in milliseconds. */
      latency: Histogram;
      /** Completed requests per one-second sample. */
      requests: Histogram;
      throughput: Histogram;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      resets: number;
      duration: number;
      connections: number;
      pipelining: number;
      '2xx': number;
    }
  }

  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export = autocannon;
}
