// Placeholder until the ingest core lands; replaced by the real handler.
export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 500,
  body: JSON.stringify({ status: "error" }),
});
