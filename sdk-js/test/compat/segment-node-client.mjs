// Segment's own Node.js library, unchanged, pointed at an Ecrm collector. Used by the .NET
// integration tests (SegmentCompatibilityTests) to prove the tracking API is Segment-compatible.
// Usage: node segment-node-client.mjs <collector-url> <write-key> <user-id>
import { Analytics } from '@segment/analytics-node';

const [host, writeKey, userId] = process.argv.slice(2);
const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 10, flushInterval: 200 });
const failures = [];
analytics.on('error', (error) => failures.push(error));

analytics.identify({ userId, traits: { region: 'Gangnam', points: 12000 } });
analytics.page({ userId, name: 'OLED specs', properties: { path: '/tv/oled-55/specs', url: 'https://shop.example/tv/oled-55/specs' } });
analytics.track({ userId, event: 'Product Added', properties: { sku: 'oled-55', price: 1999 } });
analytics.group({ userId, groupId: 'household-7', traits: { size: 3 } });

await analytics.closeAndFlush({ timeout: 20000 });
if (failures.length > 0) {
  console.error(JSON.stringify(failures.map(String)));
  process.exit(1);
}
console.log('sent');
