using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace IngestWorker;

/// <summary>A typed client for m3ter's ingest API. It knows nothing about tokens: M3terAuthHandler adds them.</summary>
public sealed class IngestClient(HttpClient http, string organizationId)
{
    /// <summary>m3ter's limits: 1 to 1,000 measurements per request, and a body under 512,000 bytes.</summary>
    public const int MaxMeasurements = 1000;

    public const int MaxBodyBytes = 512_000;

    /// <summary>Serializes one batch; the body must stay under <see cref="MaxBodyBytes"/> (the batcher checks).</summary>
    public static byte[] Serialize(IReadOnlyList<Measurement> batch)
    {
        var buffer = new ArrayBufferWriter<byte>(batch.Count * 160);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("measurements");
            foreach (Measurement m in batch)
            {
                WriteMeasurement(json, m);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The bytes one measurement adds to a batch's body (with its separating comma).</summary>
    public static int SizeOf(Measurement measurement)
    {
        var buffer = new ArrayBufferWriter<byte>(160);
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteMeasurement(json, measurement);
        }

        return buffer.WrittenCount + 1;
    }

    public async Task SubmitAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using HttpResponseMessage response = await http.PostAsync(new Uri($"organizations/{organizationId}/measurements", UriKind.Relative), content, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            string reason = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException(string.Create(CultureInfo.InvariantCulture, $"m3ter refused the batch: {(int)response.StatusCode} {reason}"), null, response.StatusCode);
        }
    }

    private static void WriteMeasurement(Utf8JsonWriter json, Measurement m)
    {
        json.WriteStartObject();
        json.WriteString("uid", m.Uid);
        json.WriteString("meter", m.Meter);
        json.WriteString("account", m.Account);
        json.WriteString("ts", m.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        json.WriteStartObject("measure");
        json.WriteNumber("quantity", m.Quantity);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
