// Where Services and EndpointSlices come from. A source reports events for its own objects
// and says once when its initial listing is complete, so the first sync never programs a
// half-known cluster (which would briefly reject traffic to Services not yet seen).
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

export interface SourceHandler {
  serviceUpdated(obj: V1Service): void;
  serviceDeleted(obj: V1Service): void;
  endpointSliceUpdated(obj: V1EndpointSlice): void;
  endpointSliceDeleted(obj: V1EndpointSlice): void;
  /** The initial listing is complete. */
  synced(): void;
}

export interface Source {
  start(handler: SourceHandler): Promise<void>;
  stop(): Promise<void>;
}
