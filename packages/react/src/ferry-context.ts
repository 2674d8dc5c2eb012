/**
 * The client a component tree uses, and the tabs group it may belong to. One context per
 * provider, no module-level client: two providers give two independent clients on one page.
 *
 * @module
 */
import { createContext, createElement, useContext, type ReactNode } from 'react';
import { FerryError } from '@ferry/protocol';
import type { FerryClient, TabGroup } from '@ferry/client';

/** What {@link FerryProvider} hands down. */
export interface FerryContextValue {
  readonly client: FerryClient;
  readonly tabs: TabGroup | null;
}

const FerryContext = createContext<FerryContextValue | null>(null);

/** Props of {@link FerryProvider}. */
export interface FerryProviderProps {
  readonly client: FerryClient;
  /**
   * The tab's group (`shareAcrossTabs`): `useSyncStatus` then shows the leader's sync status
   * in every tab.
   */
  readonly tabs?: TabGroup | null;
  readonly children?: ReactNode;
}

/**
 * Makes `client` the one the hooks below it use.
 *
 * @example
 * <FerryProvider client={client} tabs={tabs}><App /></FerryProvider>
 */
export function FerryProvider({ client, tabs = null, children }: FerryProviderProps): ReactNode {
  return createElement(FerryContext.Provider, { value: { client, tabs } }, children);
}

/** The provider's value; a typed error outside a provider. */
export function useFerryContext(): FerryContextValue {
  const value = useContext(FerryContext);
  if (value === null) {
    throw new FerryError(
      'invalid_argument',
      'Ferry hooks need a <FerryProvider client={…}> above them',
    );
  }
  return value;
}

/** The provider's client. */
export function useFerryClient(): FerryClient {
  return useFerryContext().client;
}
