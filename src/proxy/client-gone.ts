import type { ServerResponse } from 'node:http'

/**
 * Subscribes to a client leaving before its answer is complete (its response closed unfinished). Cheap to make per
 * request: nothing listens until a request waits for a place at ION and subscribes.
 */
export function clientGone (res: ServerResponse): (listener: () => void) => () => void {
  return listener => {
    const onClose = (): void => {
      if (!res.writableFinished) listener()
    }
    if (res.destroyed) {
      onClose()
      return () => {}
    }
    res.once('close', onClose)
    return () => { res.off('close', onClose) }
  }
}
