/**
 * Lets a polling loop sleep until either its interval passes or someone calls wake(). A wake
 * while the loop is busy is remembered, so a SCIM commit landing mid-claim is not missed.
 */
export class WakeSignal {
  private pending = false;
  private release: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    this.release?.();
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.release = undefined;
        self.pending = false;
        resolve();
      }
      this.release = done;
    });
  }
}
