using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace M3ter.Auth.Testing.Internal;

// How m3ter validates a measurements body (M3TER.md, ingest): the emulator's rules, as pure functions.
internal static partial class MeasurementValidation
{
    /// <summary>What the ingest endpoint does with the bytes it receives: the first problem (not JSON, or a rule of <see cref="Validate"/>), or null.</summary>
    public static string? ValidateBody(byte[] body, DateTimeOffset receivedAt, out List<M3terMeasurement> accepted)
    {
        // The JSON reader checks UTF-8 only where it must; a string with a bad byte would throw later, when read.
        // (Found by fuzzing: such a body was a 500 from the emulator instead of m3ter's 400.)
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            accepted = new List<M3terMeasurement>();
            return "The body is not valid UTF-8 JSON";
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            return Validate(document.RootElement, receivedAt, out accepted);
        }
        catch (JsonException)
        {
            accepted = new List<M3terMeasurement>();
            return "The body is not valid JSON";
        }
        catch (InvalidOperationException)
        {
            // A string that is not text: an escape of a lone surrogate ("\ud800") is valid JSON but no UTF-16, and the
            // reader throws only when the string is read. (Found in review, after fuzzing found the UTF-8 case above.)
            accepted = new List<M3terMeasurement>();
            return "The body is not valid JSON text: a string in it is not valid Unicode";
        }
    }

    /// <summary>m3ter's measurement rules (M3TER.md, limits: 1-1000 per request; required uid, meter, account and ts): the first problem, or null.</summary>
    public static string? Validate(JsonElement root, DateTimeOffset receivedAt, out List<M3terMeasurement> accepted)
    {
        accepted = new List<M3terMeasurement>();
        if (root.ValueKind != JsonValueKind.Object)
        {
            return "The body must be a JSON object {\"measurements\": [...]}, but it is " + Describe(root.ValueKind);
        }

        if (!root.TryGetProperty("measurements", out JsonElement measurements) || measurements.ValueKind != JsonValueKind.Array)
        {
            return "The body must have a \"measurements\" array";
        }

        int count = measurements.GetArrayLength();
        if (count is < 1 or > M3terEmulator.MaxMeasurementsPerRequest)
        {
            return string.Create(CultureInfo.InvariantCulture, $"A request must carry 1 to {M3terEmulator.MaxMeasurementsPerRequest} measurements, but it carries {count}");
        }

        int index = 0;
        foreach (JsonElement measurement in measurements.EnumerateArray())
        {
            string at = string.Create(CultureInfo.InvariantCulture, $"measurements[{index++}]");
            if (measurement.ValueKind != JsonValueKind.Object)
            {
                return at + " must be an object";
            }

            string uid = string.Empty, meter = string.Empty, account = string.Empty, ts = string.Empty;
            string? problem = RequiredString(measurement, at, "uid", ref uid)
                ?? RequiredString(measurement, at, "meter", ref meter)
                ?? RequiredString(measurement, at, "account", ref account)
                ?? RequiredString(measurement, at, "ts", ref ts);
            if (problem is not null)
            {
                return problem;
            }

            if (!IsoTimestamp().IsMatch(ts) || !DateTimeOffset.TryParse(ts, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset timestamp))
            {
                return $"{at}.ts must be an ISO 8601 date and time such as 2026-11-28T12:00:00Z, but it is \"{ts}\"";
            }

            foreach (string numbers in new[] { "measure", "cost", "income", "other" })
            {
                if (measurement.TryGetProperty(numbers, out JsonElement values)
                    && (values.ValueKind != JsonValueKind.Object || values.EnumerateObject().Any(v => v.Value.ValueKind != JsonValueKind.Number)))
                {
                    return $"{at}.{numbers} must be an object of numbers";
                }
            }

            foreach (string texts in new[] { "what", "where", "who" })
            {
                if (measurement.TryGetProperty(texts, out JsonElement values)
                    && (values.ValueKind != JsonValueKind.Object || values.EnumerateObject().Any(v => v.Value.ValueKind != JsonValueKind.String)))
                {
                    return $"{at}.{texts} must be an object of strings";
                }
            }

            accepted.Add(new M3terMeasurement(uid, meter, account, timestamp, measurement.GetRawText(), receivedAt));
        }

        return null;
    }

    private static string? RequiredString(JsonElement measurement, string at, string name, ref string value)
    {
        if (!measurement.TryGetProperty(name, out JsonElement element))
        {
            return $"{at}.{name} is required";
        }

        if (element.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(element.GetString()))
        {
            return $"{at}.{name} must be a non-empty string, but it is {Describe(element.ValueKind)}";
        }

        value = element.GetString()!;
        return null;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        _ => "nothing",
    };

    /// <summary>An ISO 8601 (RFC 3339 profile) date and time: a full date, <c>T</c>, hours and minutes, optional seconds and fraction, optional zone.</summary>
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?\z", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex IsoTimestamp();
}
