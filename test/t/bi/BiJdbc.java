// What a JDBC tool (Metabase, DBeaver, Tableau) discovers in a schema: DatabaseMetaData.getTables and
// getColumns with their REMARKS, one tab-separated line per table and per column.
// java -cp postgresql.jar BiJdbc.java URL USER SCHEMA
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class BiJdbc {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], "")) {
            DatabaseMetaData md = c.getMetaData();
            try (ResultSet t = md.getTables(null, args[2], "%", null)) {
                while (t.next())
                    System.out.println("table\t" + t.getString("TABLE_NAME") + "\t" + t.getString("TABLE_TYPE") + "\t" + t.getString("REMARKS"));
            }
            try (ResultSet col = md.getColumns(null, args[2], "%", "%")) {
                while (col.next())
                    System.out.println("column\t" + col.getString("TABLE_NAME") + "\t" + col.getString("COLUMN_NAME") + "\t"
                                       + col.getString("TYPE_NAME") + "\t" + col.getString("REMARKS"));
            }
        }
    }
}
