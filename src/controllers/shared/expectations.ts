/**
 * @module controllers/shared/expectations
 * ControllerExpectations as in pkg/controller/controller_utils.go: after a loop creates or
 * deletes N pods it waits until its informer has seen them before acting on counts again, so a
 * sync that races the watch never creates a second batch. Expectations expire after 5 minutes
 * (a lost event must not wedge the controller).
 */
const EXPECTATIONS_TTL_MS = 5 * 60_000;

interface Expectation { add: number; del: number; at: number }

export class Expectations {
  private readonly m = new Map<string, Expectation>();

  expect(key: string, add: number, del: number): void {
    this.m.set(key, { add, del, at: Date.now() });
  }

  /** A created object was observed (or its creation failed). */
  creationObserved(key: string): void {
    const e = this.m.get(key);
    if (e) e.add--;
  }

  deletionObserved(key: string): void {
    const e = this.m.get(key);
    if (e) e.del--;
  }

  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return Date.now() - e.at > EXPECTATIONS_TTL_MS;
  }

  forget(key: string): void {
    this.m.delete(key);
  }
}
