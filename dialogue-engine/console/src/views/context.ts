import type { ApiClient } from '../api';
import type { Scope } from '../charts';
import type { Route } from '../route';
import type { Catalog, SavedSegment } from '../types';

/** What every view gets: the API, the catalog read at login, where it is, and its own lifetime. */
export interface Ctx {
  api: ApiClient;
  catalog: Catalog;
  route: Route;
  main: HTMLElement;
  scope: Scope;
  /** Moves to a route (a hash); the app renders the view again. */
  go(hash: string, replace?: boolean): void;
  /** Shows an error; a rejected key ends the session. */
  fail(e: unknown, where?: HTMLElement): void;
  /** Saved segments, read once per session and refreshed after a save. */
  segments(refresh?: boolean): Promise<SavedSegment[]>;
  topicName(id: string): string;
}
