using System;
using System.Linq;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;
using Microsoft.AspNetCore.Http;

namespace M3ter.Auth.Testing;

// The config API: GET lists an empty page, POST creates, for the resources in ConfigResources.
public sealed partial class M3terEmulator
{
    private static async Task ConfigAsync(HttpContext context, M3terRecordedRequest record, string rest, string organizationId, bool tooLarge)
    {
        if (tooLarge)
        {
            await MessageAsync(context, record, 413, "Request payload is too large").ConfigureAwait(false);
            return;
        }

        string method = context.Request.Method;
        string[] segments = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
        {
            // The organization itself.
            await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
            {
                w.WriteString("id", organizationId);
                w.WriteString("organizationName", "m3ter emulator");
            })).ConfigureAwait(false);
            return;
        }

        if (!ConfigResources.Contains(segments[0]))
        {
            await MessageAsync(context, record, 404, "Not found: /" + segments[0] + " is not a config API resource").ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsGet(method) && segments.Length == 1)
        {
            await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
            {
                w.WriteStartArray("data");
                w.WriteEndArray();
                w.WriteNull("nextToken");
            })).ConfigureAwait(false);
        }
        else if (HttpMethods.IsGet(method) || HttpMethods.IsDelete(method))
        {
            // The emulator holds no entities: any single one is unknown.
            await MessageAsync(context, record, 404, "Not found: no " + segments[0] + " with id " + segments[^1]).ConfigureAwait(false);
        }
        else if (HttpMethods.IsPost(method) || HttpMethods.IsPut(method))
        {
            await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
            {
                w.WriteString("id", segments.Length > 1 ? segments[1] : Guid.NewGuid().ToString());
                w.WriteNumber("version", 1);
            })).ConfigureAwait(false);
        }
        else
        {
            context.Response.Headers.Allow = "GET, POST, PUT, DELETE";
            await MessageAsync(context, record, 405, "Method not allowed").ConfigureAwait(false);
        }
    }
}
