// ParWatch through pgjdbc (Debian's libpostgresql-jdbc-java), as DBeaver and Metabase use it:
// DatabaseMetaData to browse, prepared statements with typed parameters to query.
//
// Usage: java -cp postgresql.jar:. Jdbc PORT PASSWORD AGENCY. Prints one line per thing seen,
// tab-separated: `table NAME TYPE`, `column TABLE NAME TYPE_NAME`, `keys TABLE COUNT`,
// `query LABEL VALUE`, `error LABEL SQLSTATE`. Each prepared statement runs 6 times: pgjdbc
// switches from unnamed to named server-side statements at its prepareThreshold (5).
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;

public class Jdbc {
  interface Binder {
    void bind(PreparedStatement statement) throws SQLException;
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/parwatch?connectTimeout=10";
    String agency = args[2];
    try (Connection conn = DriverManager.getConnection(url, "analyst", args[1])) {
      DatabaseMetaData meta = conn.getMetaData();
      System.out.println("product\t" + meta.getDatabaseProductName() + "\t"
          + meta.getDatabaseMajorVersion() + "." + meta.getDatabaseMinorVersion());
      try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
        while (rs.next()) {
          System.out.println("table\t" + rs.getString("TABLE_NAME") + "\t" + rs.getString("TABLE_TYPE"));
        }
      }
      for (String table : new String[] {"events", "dossiers"}) {
        try (ResultSet rs = meta.getColumns(null, "public", table, "%")) {
          while (rs.next()) {
            System.out.println("column\t" + table + "\t" + rs.getString("COLUMN_NAME") + "\t"
                + rs.getString("TYPE_NAME"));
          }
        }
      }
      // The lake has no primary keys: none listed, and no error (Metabase asks at sync).
      int keys = 0;
      try (ResultSet rs = meta.getPrimaryKeys(null, "public", "events")) {
        while (rs.next()) {
          keys++;
        }
      }
      System.out.println("keys\tevents\t" + keys);
      query(conn, "agency", "SELECT count(*) FROM events WHERE agency_code = ?",
          s -> s.setString(1, agency));
      query(conn, "digitized", "SELECT count(*) FROM events WHERE digitized = ?",
          s -> s.setBoolean(1, true));
      query(conn, "schema_version", "SELECT count(*) FROM events WHERE schema_version = ?",
          s -> s.setInt(1, 1));
      // The JVM runs in Asia/Ho_Chi_Minh (UTC+7): local times are sent with their offset.
      query(conn, "since", "SELECT count(*) FROM events WHERE occurred_at >= ?",
          s -> s.setTimestamp(1, Timestamp.valueOf("2024-04-01 06:00:00")));
      query(conn, "day", "SELECT count(*) FROM events WHERE event_date = ?",
          s -> s.setDate(1, Date.valueOf("2024-04-01")));
      query(conn, "first",
          "SELECT min(event_id) FROM (SELECT event_id FROM events WHERE agency_code = ? "
              + "ORDER BY event_id DESC LIMIT ?) AS last",
          s -> {
            s.setString(1, agency);
            s.setLong(2, 7L);
          });
      try (PreparedStatement statement = conn.prepareStatement("DELETE FROM events WHERE agency_code = ?")) {
        statement.setString(1, agency);
        statement.executeUpdate();
        System.out.println("error\tdelete\tnone");
      } catch (SQLException e) {
        System.out.println("error\tdelete\t" + e.getSQLState());
      }
    }
  }

  static void query(Connection conn, String label, String sql, Binder binder) throws SQLException {
    try (PreparedStatement statement = conn.prepareStatement(sql)) {
      String answer = null;
      for (int run = 0; run < 6; run++) {
        binder.bind(statement);
        try (ResultSet rs = statement.executeQuery()) {
          rs.next();
          String value = String.valueOf(rs.getString(1));
          if (answer != null && !answer.equals(value)) {
            value = "run " + run + " answered " + value + " after " + answer;
          }
          answer = value;
        }
      }
      System.out.println("query\t" + label + "\t" + answer);
    }
  }
}
