using System.Collections.Generic;
using System.Text.Json;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;
using Microsoft.AspNetCore.Http;

namespace M3ter.Auth.Testing;

// The ingest API: measurements validated as m3ter validates them, and recorded.
public sealed partial class M3terEmulator
{
    private async Task IngestAsync(HttpContext context, M3terRecordedRequest record, bool tooLarge)
    {
        // M3TER.md: ingest payloads must be under 512,000 bytes, and m3ter answers an oversized one with 403.
        if (tooLarge || record.Body.Length >= MaxIngestPayloadBytes)
        {
            await MessageAsync(context, record, 403, "Request payload is larger than 512000 bytes").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await MessageAsync(context, record, 405, "Method not allowed: measurements are submitted with POST").ConfigureAwait(false);
            return;
        }

        string? problem = MeasurementValidation.ValidateBody(record.Body, record.ReceivedAt, out List<M3terMeasurement> accepted);

        if (problem is not null)
        {
            await MessageAsync(context, record, 400, problem).ConfigureAwait(false);
            return;
        }

        if (_options.RecordRequests)
        {
            accepted.ForEach(_measurements.Add);
        }

        await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
        {
            w.WriteString("result", "accepted");
            w.WriteNumber("count", accepted!.Count);
        })).ConfigureAwait(false);
    }
}
