/** A configuration problem; its message names the variable or field at fault and never a secret value. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
