import { createEcrm } from './tracker';

export { createEcrm, VERSION } from './tracker';
export type * from './types';

/** The default tracker instance. */
export const ecrm = createEcrm();
export default ecrm;
