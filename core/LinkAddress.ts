/** Where a node's link listener is (its `ping` reply, `setPeers`, its stats). */
export interface LinkAddress {
  host: string;
  port: number;
}
