// Seeded randomness for the simulator: one small PRNG (mulberry32) and the draws it needs
// (uniform, normal, exponential, Poisson), so a seed gives the same jobs on every machine.

export interface Random {
  /** Uniform in [0, 1). */
  readonly next: () => number
}

/** mulberry32: 32-bit state, fast, good enough for a simulation (not for secrets). */
export const makeRandom = (seed: number): Random => {
  let a = (seed >>> 0) ^ 0x9e3779b9
  return {
    next: () => {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }
}

/** Standard normal (Box-Muller). */
export const normal = (r: Random): number => {
  const u = 1 - r.next() // (0, 1]: log(0) never happens
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next())
}

/** Exponential with the given mean. */
export const exponential = (r: Random, mean: number): number => -mean * Math.log(1 - r.next())

/** Poisson count with mean `lambda`: Knuth's product method for small means, a rounded normal above 30. */
export const poisson = (r: Random, lambda: number): number => {
  if (!(lambda > 0)) return 0
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(r)))
  const limit = Math.exp(-lambda)
  let k = 0
  let p = r.next()
  while (p > limit) {
    k++
    p *= r.next()
  }
  return k
}
